package plugin

import (
	"errors"
	"fmt"

	"github.com/wxsync/wxsync/plugin/pb"
)

// Kind classifies an error that ends a Read, and so the host's exit code.
type Kind int

const (
	// KindInternal is a bug or an answer nobody expected (exit 1).
	KindInternal Kind = iota
	// KindConfig means the configuration or the account's permissions need
	// fixing; retrying will not help (exit 78).
	KindConfig
	// KindTemporary means try again later: quota, rate limits, retries
	// exhausted, an interrupted run (exit 75).
	KindTemporary
)

func (k Kind) String() string {
	switch k {
	case KindConfig:
		return "config"
	case KindTemporary:
		return "temporary"
	default:
		return "internal"
	}
}

// Error is an error with a Kind, carried from the plugin to the host.
type Error struct {
	Kind   Kind
	Stream string
	Err    error
}

func (e *Error) Error() string {
	if e.Stream != "" {
		return fmt.Sprintf("stream %s: %v", e.Stream, e.Err)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ConfigError marks err as a configuration or permission problem.
func ConfigError(err error) error { return &Error{Kind: KindConfig, Err: err} }

// TemporaryError marks err as temporary: the run may be retried later.
func TemporaryError(err error) error { return &Error{Kind: KindTemporary, Err: err} }

// KindOf returns the Kind of err: the Kind of the first *Error in its chain,
// or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

func kindToPB(k Kind) pb.Error_Kind {
	switch k {
	case KindConfig:
		return pb.Error_KIND_CONFIG
	case KindTemporary:
		return pb.Error_KIND_TEMPORARY
	default:
		return pb.Error_KIND_INTERNAL
	}
}

func kindFromPB(k pb.Error_Kind) Kind {
	switch k {
	case pb.Error_KIND_CONFIG:
		return KindConfig
	case pb.Error_KIND_TEMPORARY:
		return KindTemporary
	default:
		return KindInternal
	}
}
