package main

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"

	"github.com/wxsync/wxsync/plugin"
)

// launchPlugin starts the source plugin at path the way cfg says: its
// SHA-256 checked first when WXSYNC_PLUGIN_SHA256 is set (a mismatch is a
// configuration error, exit 78, and the binary is not run), the gRPC
// connection and its broker under one-off mutual TLS when
// WXSYNC_PLUGIN_MTLS, and an environment without the host's secrets.
func launchPlugin(ctx context.Context, cfg Config, path string, hlog hclogLogger) (*plugin.Client, error) {
	sum, _ := hex.DecodeString(cfg.PluginSHA256) // validated by Config.Validate; empty: not checked
	if len(sum) == 0 {
		sum = nil
	}
	src, err := plugin.Launch(ctx, plugin.ClientConfig{
		Path: path, Logger: hlog, Checksum: sum, AutoMTLS: cfg.PluginMTLS, Env: pluginEnv(os.Environ()),
	})
	if errors.Is(err, plugin.ErrChecksumMismatch) {
		return nil, &configError{err}
	}
	return src, err
}

// pluginEnv is the host's environment without what the plugin must not
// hold: the AppSecret and the push Token and EncodingAESKeys (it receives
// them in its requests only)
// and every ClickHouse setting (it never talks to ClickHouse), so that
// neither shows in the plugin's /proc/PID/environ or reaches a child of
// it.
func pluginEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if name == "WECHAT_SECRET" || name == "WECHAT_TOKEN" || strings.HasPrefix(name, "WECHAT_AES_KEY") || strings.HasPrefix(name, "CLICKHOUSE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
