package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
)

// Exit codes, as the kind package's table gives them.
const (
	exitOK        = kind.ExitOK
	exitFailure   = kind.ExitFailure
	exitUsage     = kind.ExitUsage
	exitTempFail  = kind.ExitTempFail
	exitConfigErr = kind.ExitConfig
)

const usage = `wxsync lands the followers of a WeChat Official Account, their profiles, tags and
blacklist in ClickHouse.

Usage:
  wxsync sync [flags]                  sync the selected streams, resuming from saved cursors
  wxsync check [flags]                 check plugin, credentials, permissions, quota and ClickHouse
  wxsync discover [--format json]      print every stream's Arrow schema and ClickHouse DDL
  wxsync listen [flags]                receive the account's follow events (message push) into ClickHouse
  wxsync state show [--stream S] [--format json]
  wxsync state reset [--stream S] --yes

Every setting is an environment variable and a flag; 'wxsync sync -h' lists them.
Exit codes: 0 done, 75 stopped early (retry later; the cursor is saved),
78 fix the configuration, 2 usage, 1 other.
`

func main() {
	plugin.TuneGC(os.LookupEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], envconfig.OsLookuper(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: its own flags beside the Config's, and what
// it does.
type command struct {
	// flags registers the command's own flags and returns their values'
	// holder (nil for none).
	flags func(fs *flag.FlagSet) any
	run   func(ctx context.Context, cfg Config, opts any, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"sync": {run: func(ctx context.Context, cfg Config, _ any, args []string, _, stderr io.Writer) error {
			if len(args) > 0 {
				return kind.Mark(kind.Usage, fmt.Errorf("unexpected argument %q", args[0]))
			}
			return runSync(ctx, cfg, stderr)
		}},
		"check":    {run: runCheck},
		"discover": {flags: discoverFlags, run: runDiscover},
		"state":    {flags: stateFlags, run: runState},
		"listen":   {run: runListen},
		// Not in usage: for `make docs`, which writes docs/configuration.md.
		"config-reference": {run: runConfigReference},
	}
}

// run is the whole program, minus the process: it returns the exit code.
// ctx is cancelled on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wxsync: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	var verb string
	if name == "state" {
		// state takes its verb before its flags: wxsync state show|reset [flags]
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return report(stderr, kind.Mark(kind.Usage, errors.New("state wants show or reset")))
		}
		verb, rest = rest[0], rest[1:]
		name += " " + verb
	}
	fs := flag.NewFlagSet("wxsync "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts any
	if cmd.flags != nil {
		opts = cmd.flags(fs)
	}
	cfg, rest, err := loadConfig(ctx, env, fs, rest)
	if err != nil {
		return report(stderr, err)
	}
	if verb != "" {
		rest = append([]string{verb}, rest...)
	}
	return report(stderr, cmd.run(ctx, cfg, opts, rest, stdout, stderr))
}

// report prints err as one line and returns its exit code.
func report(stderr io.Writer, err error) int {
	code := exitCode(err)
	switch {
	case err == nil || code == exitOK: // nothing, or -h
	case code == exitUsage:
		fmt.Fprintf(stderr, "wxsync: %v (see 'wxsync sync -h')\n", err)
	case code == exitConfigErr:
		fmt.Fprintf(stderr, "wxsync: configuration error: %v\n", err)
	case code == exitTempFail:
		fmt.Fprintf(stderr, "wxsync: stopped early, cursor saved; run again later to resume: %v\n", err)
	default:
		fmt.Fprintf(stderr, "wxsync: %v\n", err)
	}
	return code
}

// exitCode is the exit code err calls for: its kind's (kind.Of), or 0
// for -h.
func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return kind.Of(err).ExitCode()
}
