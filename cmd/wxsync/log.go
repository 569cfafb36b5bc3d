package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogLogger is the logger go-plugin wants for the plugin's stderr lines.
type hclogLogger = hclog.Logger

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("WXSYNC_LOG_LEVEL %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// newHCLogger returns the logger through which go-plugin prints the
// plugin's log lines, in the host's format and at the host's level.
func newHCLogger(cfg Config, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclog.LevelFromString(strings.ToLower(cfg.LogLevel)),
		Output:     w,
		JSONFormat: cfg.LogFormat == "json",
	})
}
