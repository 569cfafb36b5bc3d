package kind

import (
	"errors"
	"strconv"
)

// Kind says what a scheduler, or a person, should do about an error.
type Kind int

const (
	// Internal is a bug or an answer nobody expected: a human looks at it
	// (exit 1). It is the zero Kind: an error nobody classified is one.
	Internal Kind = iota
	// Config means the configuration or the account's permissions need
	// fixing; running again unchanged fails the same way (exit 78).
	Config
	// Temporary means try again later: quota, rate limits, retries
	// exhausted, ClickHouse away too long, a signal. The cursors are saved
	// (exit 75).
	Temporary
	// Usage is a bad command line (exit 2).
	Usage
	// None is the Kind of no error (exit 0).
	None
)

// Exit codes, sysexits.h where one fits.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitTempFail = 75 // EX_TEMPFAIL
	ExitConfig   = 78 // EX_CONFIG
)

// Values of wxsync_runs.status.
const (
	// StatusOK: every stream completed.
	StatusOK = "ok"
	// StatusStopped: stopped early with the cursors saved.
	StatusStopped = "stopped"
	// StatusConfigError: the configuration or a permission needs fixing.
	StatusConfigError = "config_error"
	// StatusFailed: anything else: a bug, the plugin died.
	StatusFailed = "failed"
)

// outcomes is THE table: what each Kind means for the exit code and the
// run record. Nothing else maps a Kind to either.
var outcomes = map[Kind]struct {
	name   string
	exit   int
	status string
}{
	None:      {"none", ExitOK, StatusOK},
	Temporary: {"temporary", ExitTempFail, StatusStopped},
	Config:    {"config", ExitConfig, StatusConfigError},
	Usage:     {"usage", ExitUsage, StatusFailed},
	Internal:  {"internal", ExitFailure, StatusFailed},
}

// All returns every Kind, in the order of the table in
// docs/architecture.md.
func All() []Kind { return []Kind{None, Temporary, Config, Usage, Internal} }

// String returns "none", "temporary", "config", "usage" or "internal".
func (k Kind) String() string {
	if o, ok := outcomes[k]; ok {
		return o.name
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ExitCode is the process exit code for k; an unknown Kind exits 1.
func (k Kind) ExitCode() int {
	if o, ok := outcomes[k]; ok {
		return o.exit
	}
	return ExitFailure
}

// RunStatus is wxsync_runs.status for a run that ended with an error of
// kind k; an unknown Kind is "failed".
func (k Kind) RunStatus() string {
	if o, ok := outcomes[k]; ok {
		return o.status
	}
	return StatusFailed
}

// Carrier is an error that says its own Kind. Of finds the first one in an
// error's chain.
type Carrier interface {
	error
	ErrorKind() Kind
}

// Of returns the Kind of err: None for nil, else the Kind of the first
// Carrier in its chain (errors.As order), else Internal.
func Of(err error) Kind {
	if err == nil {
		return None
	}
	var c Carrier
	if errors.As(err, &c) {
		return c.ErrorKind()
	}
	return Internal
}

// Mark returns err carrying Kind k (nil for a nil err). Its message is
// err's.
func Mark(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &marked{k: k, err: err}
}

type marked struct {
	k   Kind
	err error
}

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() error   { return m.err }
func (m *marked) ErrorKind() Kind { return m.k }
