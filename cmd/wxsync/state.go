package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// stateOpts are the flags of `wxsync state`.
type stateOpts struct {
	stream string
	format string
	yes    bool
}

func stateFlags(fs *flag.FlagSet) any {
	o := &stateOpts{}
	fs.StringVar(&o.stream, "stream", "", "only this stream")
	fs.StringVar(&o.format, "format", "text", "show: text or json")
	fs.BoolVar(&o.yes, "yes", false, "reset: really forget the saved cursors")
	return o
}

// stateJSON is one saved cursor as `state show --format json` prints it.
type stateJSON struct {
	AppID      string    `json:"appid"`
	Stream     string    `json:"stream"`
	SnapshotID uint64    `json:"snapshot_id"`
	Cursor     string    `json:"cursor"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// runState shows or resets the saved cursors of WECHAT_APPID (every
// account's when it is not set, for show).
func runState(ctx context.Context, cfg Config, opts any, args []string, stdout, stderr io.Writer) error {
	o := opts.(*stateOpts)
	verb, args := args[0], args[1:]
	if len(args) > 0 {
		return kind.Mark(kind.Usage, fmt.Errorf("unexpected argument %q", args[0]))
	}
	if err := cfg.Validate(false); err != nil {
		return kind.Mark(kind.Config, err)
	}
	if o.stream != "" {
		if _, err := schema.Lookup(o.stream); err != nil {
			return kind.Mark(kind.Usage, err)
		}
	}
	switch verb {
	case "show":
		if o.format != "text" && o.format != "json" {
			return kind.Mark(kind.Usage, fmt.Errorf("--format %q: want text or json", o.format))
		}
	case "reset":
		if cfg.AppID == "" {
			return kind.Mark(kind.Config, errors.New("state reset needs WECHAT_APPID (--appid): it resets one account's cursors"))
		}
		if !o.yes {
			return kind.Mark(kind.Usage, errors.New("state reset forgets where the next sync resumes; add --yes to do it"))
		}
	default:
		return kind.Mark(kind.Usage, fmt.Errorf("state %q: want show or reset", verb))
	}
	log, _ := newLoggers(cfg, stderr)
	sk, err := openSink(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sk.Close()
	if verb == "reset" {
		return resetState(ctx, sk, cfg.AppID, o.stream, stdout)
	}
	rows, err := sk.ListStates(ctx, cfg.AppID)
	if err != nil {
		return kind.Mark(kind.Temporary, err)
	}
	var out []stateJSON
	for _, r := range rows {
		if o.stream != "" && r.Stream != o.stream {
			continue
		}
		out = append(out, stateJSON{AppID: r.AppID, Stream: r.Stream, SnapshotID: r.SnapshotID, Cursor: string(r.Cursor), UpdatedAt: r.UpdatedAt})
	}
	if o.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if out == nil {
			out = []stateJSON{}
		}
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APPID\tSTREAM\tSNAPSHOT\tUPDATED\tCURSOR")
	for _, r := range out {
		cursor := r.Cursor
		if cursor == "" {
			cursor = "(none: the next run starts afresh)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.AppID, r.Stream, r.SnapshotID, r.UpdatedAt.Format(time.RFC3339), cursor)
	}
	return tw.Flush()
}

// resetState clears the cursors of appid (one stream, or all), so the next
// sync starts each afresh with a new snapshot.
func resetState(ctx context.Context, sk *sink.Sink, appid, stream string, stdout io.Writer) error {
	streams := schema.Names()
	if stream != "" {
		streams = []string{stream}
	}
	for _, st := range streams {
		if err := sk.ResetState(ctx, appid, st); err != nil {
			return kind.Mark(kind.Temporary, err)
		}
		fmt.Fprintf(stdout, "reset %s %s: the next sync starts it afresh\n", appid, st)
	}
	return nil
}

// openSink connects to ClickHouse and creates the tables if missing.
func openSink(ctx context.Context, cfg Config, log *slog.Logger) (*sink.Sink, error) {
	sk, err := sink.Open(ctx, cfg.sinkConfig(log))
	if err != nil {
		return nil, kind.Mark(kind.Config, fmt.Errorf("ClickHouse: %w", err))
	}
	if err := sk.Migrate(ctx); err != nil {
		sk.Close()
		err = fmt.Errorf("ClickHouse: create tables: %w", err)
		if sink.Retryable(err) { // a host of the cluster down while a table is created
			return nil, kind.Mark(kind.Temporary, err)
		}
		return nil, kind.Mark(kind.Config, err)
	}
	return sk, nil
}
