package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// discoverOpts are the flags of `wxsync discover`.
type discoverOpts struct{ format string }

func discoverFlags(fs *flag.FlagSet) any {
	o := &discoverOpts{}
	fs.StringVar(&o.format, "format", "text", "text or json")
	return o
}

// streamInfo is one stream as discover prints it.
type streamInfo struct {
	Name        string      `json:"name"`
	Table       string      `json:"table"`
	Kind        string      `json:"kind"`
	Doc         string      `json:"doc"`
	ArrowSchema []fieldInfo `json:"arrow_schema"`
	DDL         string      `json:"ddl"`
}

type fieldInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// runDiscover prints every stream the plugin offers with the Arrow schema
// of its batches (from the plugin itself) and the DDL of its table (in the
// configured database). It needs no credentials and no ClickHouse.
func runDiscover(ctx context.Context, cfg Config, opts any, args []string, stdout, stderr io.Writer) error {
	o := opts.(*discoverOpts)
	if len(args) > 0 {
		return kind.Mark(kind.Usage, fmt.Errorf("unexpected argument %q", args[0]))
	}
	if o.format != "text" && o.format != "json" {
		return kind.Mark(kind.Usage, fmt.Errorf("--format %q: want text or json", o.format))
	}
	if err := cfg.Validate(false); err != nil {
		return kind.Mark(kind.Config, err)
	}
	dsn, err := sink.ParseDSN(cfg.DSN)
	if err != nil {
		return kind.Mark(kind.Config, fmt.Errorf("CLICKHOUSE_DSN: %w", err))
	}
	db := dsn.Database
	path, err := host.FindPlugin(cfg.Plugin)
	if err != nil {
		return err
	}
	_, hlog := newLoggers(cfg, stderr)
	src, err := launchPlugin(ctx, cfg, path, hlog)
	if err != nil {
		return err
	}
	defer src.Close()
	found, err := src.Discover(ctx)
	if err != nil {
		return err
	}
	var out []streamInfo
	for _, f := range found {
		st, err := schema.Lookup(f.Name)
		if err != nil {
			return fmt.Errorf("the plugin offers stream %q, which this host does not know: %w", f.Name, err)
		}
		ddl, err := st.CreateTable(db)
		if err != nil {
			return kind.Mark(kind.Config, err)
		}
		info := streamInfo{Name: st.Name, Table: st.Table, Kind: map[schema.Kind]string{schema.Snapshot: "snapshot", schema.Latest: "latest"}[st.Kind], Doc: st.Doc, DDL: ddl}
		for _, fl := range f.Schema.Fields() {
			info.ArrowSchema = append(info.ArrowSchema, fieldInfo{Name: fl.Name, Type: fl.Type.String()})
		}
		out = append(out, info)
	}
	if o.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, s := range out {
		fmt.Fprintf(stdout, "%s → %s (%s)\n  %s\n  Arrow schema of its batches:\n", s.Name, s.Table, s.Kind, s.Doc)
		for _, f := range s.ArrowSchema {
			fmt.Fprintf(stdout, "    %-16s %s\n", f.Name, f.Type)
		}
		fmt.Fprintf(stdout, "  ClickHouse DDL:\n%s;\n\n", indent(s.DDL, "    "))
	}
	return nil
}

func indent(s, by string) string {
	out := by
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += by
		}
	}
	return out
}
