package plugin

import (
	"fmt"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/plugin/pb"
)

// Error is an error with a kind.Kind, carried from the plugin to the host:
// the Kind set where the error was classified is the one the host exits
// with.
type Error struct {
	Kind   kind.Kind
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

// ErrorKind returns e.Kind (it makes *Error a kind.Carrier).
func (e *Error) ErrorKind() kind.Kind { return e.Kind }

// ConfigError marks err as a configuration or permission problem.
func ConfigError(err error) error { return &Error{Kind: kind.Config, Err: err} }

// TemporaryError marks err as temporary: the run may be retried later.
func TemporaryError(err error) error { return &Error{Kind: kind.Temporary, Err: err} }

// kindToPB is the wire form of k. The wire knows config, temporary and
// internal; a Usage or None error ending a Read is a bug, so internal.
func kindToPB(k kind.Kind) pb.Error_Kind {
	switch k {
	case kind.Config:
		return pb.Error_KIND_CONFIG
	case kind.Temporary:
		return pb.Error_KIND_TEMPORARY
	default:
		return pb.Error_KIND_INTERNAL
	}
}

func kindFromPB(k pb.Error_Kind) kind.Kind {
	switch k {
	case pb.Error_KIND_CONFIG:
		return kind.Config
	case pb.Error_KIND_TEMPORARY:
		return kind.Temporary
	default:
		return kind.Internal
	}
}
