// Command wxsync is the host: it launches the WeChat source plugin, feeds
// the record batches it sends into ClickHouse and saves each stream's cursor
// there once the rows before it are committed.
//
// Exit codes, for schedulers: 0 done; 75 stopped early on a temporary
// condition with the cursor saved (retry later); 78 configuration or
// permission error (fix it first); 2 usage; 1 anything else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sethvargo/go-envconfig"
)

// Exit codes (sysexits.h where one fits).
const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitTempFail  = 75 // EX_TEMPFAIL
	exitConfigErr = 78 // EX_CONFIG
)

const usage = `wxsync lands the followers of a WeChat Official Account in ClickHouse.

Usage:
  wxsync sync [flags]     sync the selected streams, resuming from saved cursors

Every flag can also be set through the environment variable named in its
help; run 'wxsync sync -h' for the list. Exit codes: 0 done, 75 stopped early
(retry later; the cursor is saved), 78 fix the configuration, 2 usage, 1 other.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], envconfig.OsLookuper(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, minus the process: it returns the exit code.
// ctx is cancelled on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "sync":
		fs := flag.NewFlagSet("wxsync sync", flag.ContinueOnError)
		fs.SetOutput(stderr)
		cfg, rest, err := loadConfig(ctx, env, fs, args[1:])
		if err != nil {
			return report(stderr, err)
		}
		if len(rest) > 0 {
			return report(stderr, &usageError{fmt.Errorf("unexpected argument %q", rest[0])})
		}
		return report(stderr, runSync(ctx, cfg, stderr))
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "wxsync: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// usageError is a bad command line (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// configError is a configuration or permission problem (exit 78).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// tempError means stopped early, cursor saved, retry later (exit 75).
type tempError struct{ err error }

func (e *tempError) Error() string { return e.err.Error() }
func (e *tempError) Unwrap() error { return e.err }

// report prints err as one line and returns its exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var (
		ue *usageError
		ce *configError
		te *tempError
	)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "wxsync: %v (see 'wxsync sync -h')\n", err)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "wxsync: configuration error: %v\n", err)
		return exitConfigErr
	case errors.As(err, &te):
		fmt.Fprintf(stderr, "wxsync: stopped early, cursor saved; run again later to resume: %v\n", err)
		return exitTempFail
	default:
		fmt.Fprintf(stderr, "wxsync: %v\n", err)
		return exitFailure
	}
}
