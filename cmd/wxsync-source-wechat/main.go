package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/wxsync/wxsync/connector/source"
	"github.com/wxsync/wxsync/plugin"
)

func main() {
	plugin.TuneGC(os.LookupEnv)
	level := new(slog.LevelVar) // the host's level arrives with each request
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: hclogKeys}))
	if err := plugin.Serve(source.New(log, level)); err != nil {
		log.Error("not serving", "error", err)
		os.Exit(1)
	}
}

// hclogKeys renames slog's top-level keys to the ones go-plugin parses
// (@level, @message, @timestamp), so the host keeps each line's level.
func hclogKeys(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		return slog.String("@level", strings.ToLower(a.Value.String()))
	case slog.MessageKey:
		return slog.Attr{Key: "@message", Value: a.Value}
	case slog.TimeKey:
		// go-plugin parses exactly this layout (microseconds); a line it
		// cannot parse is printed raw at debug level, its level lost.
		return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
	}
	return a
}
