package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/sink"
)

// checkLine is one line of `wxsync check`.
type checkLine struct {
	status string // PASS, WARN or FAIL
	name   string
	msg    string
}

// runCheck checks, one line per item, everything a sync needs: the plugin,
// the account's token, its permission to list followers, today's quota,
// and ClickHouse. It exits 0 when nothing failed, 78 otherwise.
func runCheck(ctx context.Context, cfg Config, _ any, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return kind.Mark(kind.Usage, fmt.Errorf("unexpected argument %q", args[0]))
	}
	if err := cfg.Validate(true); err != nil {
		return kind.Mark(kind.Config, err)
	}
	if cfg.Accounts != "" {
		return runCheckAccounts(ctx, cfg, stdout, stderr) // accounts_check.go
	}
	var lines []checkLine
	add := func(ok bool, name, msg string) {
		st := "PASS"
		if !ok {
			st = "FAIL"
		}
		lines = append(lines, checkLine{st, name, msg})
	}
	_, hlog := newLoggers(cfg, stderr)

	// The plugin, and through it the account.
	if path, err := host.FindPlugin(cfg.Plugin); err != nil {
		add(false, "plugin", err.Error())
	} else if src, err := launchPlugin(ctx, cfg, path, hlog); err != nil {
		add(false, "plugin", err.Error())
	} else {
		defer src.Close()
		spec, err := src.Spec(ctx)
		if err != nil {
			add(false, "plugin", err.Error())
		} else {
			add(true, "plugin", fmt.Sprintf("%s %s (protocol %d) at %s; streams: %v", spec.Name, spec.Version, plugin.ProtocolVersion, path, spec.Streams))
			results, err := src.Check(ctx, sourceConfig(cfg))
			if err != nil {
				add(false, "account", err.Error())
			}
			for _, r := range results {
				st := map[bool]string{true: "PASS", false: "FAIL"}[r.OK]
				if r.OK && r.Warning {
					st = "WARN"
				}
				lines = append(lines, checkLine{st, r.Name, r.Message})
			}
		}
	}

	// ClickHouse.
	if sk, err := sink.Open(ctx, cfg.sinkConfig(nil)); err != nil {
		add(false, "clickhouse", err.Error())
	} else {
		defer sk.Close()
		if v, err := sk.ServerVersion(ctx); err != nil {
			add(false, "clickhouse", err.Error())
		} else {
			add(true, "clickhouse", "server "+v+", database "+sk.Database())
		}
		if err := sk.Probe(ctx); err != nil {
			add(false, "clickhouse grants", err.Error())
		} else {
			add(true, "clickhouse grants", "create, insert, select and drop in "+sk.Database())
		}
	}

	failed := 0
	for _, l := range lines {
		fmt.Fprintf(stdout, "%s  %-18s %s\n", l.status, l.name, l.msg)
		if l.status == "FAIL" {
			failed++
		}
	}
	if failed > 0 {
		return kind.Mark(kind.Config, fmt.Errorf("%d check(s) failed", failed))
	}
	return nil
}
