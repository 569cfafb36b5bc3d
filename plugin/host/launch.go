package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
)

// PluginBinary is the WeChat source plugin's file name.
const PluginBinary = "wxsync-source-wechat"

// FindPlugin returns the plugin binary's path: configured, or the
// PluginBinary beside this executable. A missing or non-executable file
// is a kind.Config error.
func FindPlugin(configured string) (string, error) {
	path := configured
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", kind.Mark(kind.Config, fmt.Errorf("locate the %s plugin: %w (set WXSYNC_PLUGIN)", PluginBinary, err))
		}
		path = filepath.Join(filepath.Dir(exe), PluginBinary)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", kind.Mark(kind.Config, fmt.Errorf("source plugin %s not found (build it with `make build`, or set WXSYNC_PLUGIN / --plugin)", path))
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", kind.Mark(kind.Config, fmt.Errorf("source plugin %s is not an executable file", path))
	}
	return path, nil
}

// LaunchConfig says how to start a source plugin.
type LaunchConfig struct {
	// Path is the plugin binary (FindPlugin).
	Path string
	// SHA256, when set, is the SHA-256 the binary must have: a mismatch
	// is a kind.Config error and the binary is not run.
	SHA256 []byte
	// MTLS secures the gRPC connection and its broker with mutual TLS,
	// with Credentials, or with credentials made for this launch when
	// Credentials is nil.
	MTLS bool
	// Credentials are the host process's plugin TLS credentials
	// (plugin.NewCredentials): made once, they spare every launch the
	// making of keys.
	Credentials *plugin.Credentials
	// Logger receives the plugin's log lines.
	Logger hclog.Logger
	// Environ is the host's environment; the plugin gets it without the
	// host's secrets (PluginEnv).
	Environ []string
}

// Launch starts the plugin cfg describes and returns its client; Close
// stops it.
func Launch(ctx context.Context, cfg LaunchConfig) (*plugin.Client, error) {
	sum := cfg.SHA256
	if len(sum) == 0 {
		sum = nil
	}
	var creds *plugin.Credentials
	if cfg.MTLS {
		if creds = cfg.Credentials; creds == nil {
			var err error
			if creds, err = plugin.NewCredentials(); err != nil {
				return nil, err
			}
		}
	}
	src, err := plugin.Launch(ctx, plugin.ClientConfig{
		Path: cfg.Path, Logger: cfg.Logger, Checksum: sum, TLS: creds, Env: PluginEnv(cfg.Environ),
	})
	if errors.Is(err, plugin.ErrChecksumMismatch) {
		return nil, kind.Mark(kind.Config, err)
	}
	return src, err
}

// PluginEnv is environ without what the plugin must not hold: the
// AppSecret and the push Token and EncodingAESKeys (it receives them in its
// requests only), the credentials key (it never sees sealed values) and every
// ClickHouse setting (it never talks to ClickHouse), so that neither shows
// in the plugin's /proc/PID/environ or reaches a child of it.
func PluginEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if name == "WECHAT_SECRET" || name == "WECHAT_TOKEN" || strings.HasPrefix(name, "WECHAT_AES_KEY") || name == "WXSYNC_CREDENTIALS_KEY" || strings.HasPrefix(name, "CLICKHOUSE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
