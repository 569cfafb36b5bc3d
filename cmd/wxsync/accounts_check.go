package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
)

// runCheckAccounts checks every account of the list (or of this worker's
// shard) through one plugin: each line is prefixed with the account's
// appid. It exits 0 when nothing failed, 78 otherwise.
func runCheckAccounts(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	a, err := newAccountsRun(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.sink.Close()
	src, stop, err := a.launch(ctx)
	if err != nil {
		return err
	}
	defer stop()
	client := src.(*plugin.Client)
	failed := 0
	line := func(status, appid, name, msg string) {
		if status == "FAIL" {
			failed++
		}
		fmt.Fprintf(stdout, "%s  %-20s %-18s %s\n", status, appid, name, a.redact(msg))
	}
	for _, acc := range a.accounts {
		config, keeper, err := a.sourceConfig(ctx, acc)
		if err != nil {
			line("FAIL", acc.AppID, "config", err.Error())
			continue
		}
		var h plugin.Host
		if keeper != nil {
			h = &checkHost{keeper}
		}
		results, err := client.CheckWith(ctx, config, h)
		if err != nil {
			line("FAIL", acc.AppID, "account", err.Error())
			continue
		}
		for _, r := range results {
			st := map[bool]string{true: "PASS", false: "FAIL"}[r.OK]
			if r.OK && r.Warning {
				st = "WARN"
			}
			line(st, acc.AppID, r.Name, r.Message)
		}
	}
	if err := a.sink.Probe(ctx); err != nil {
		line("FAIL", "-", "clickhouse grants", err.Error())
	} else {
		line("PASS", "-", "clickhouse", "create, insert, select and drop in "+a.sink.Database())
	}
	if failed > 0 {
		return kind.Mark(kind.Config, fmt.Errorf("%d check(s) failed over %d accounts", failed, len(a.accounts)))
	}
	return nil
}

// checkHost offers a Check the keeper of refresh tokens.
type checkHost struct{ plugin.Keeper }

// NeedProfiles is not asked during a Check.
func (checkHost) NeedProfiles(_ context.Context, openids []string) ([]string, error) {
	return openids, nil
}
