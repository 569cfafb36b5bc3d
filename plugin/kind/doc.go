// Package kind is wxsync's one error vocabulary: the Kind an error carries
// from where it is classified (connector/wechat's Classify, the source
// plugin, the host) across the plugin protocol to the exit code, and the
// one table that maps each Kind to an exit code and a wxsync_runs status.
//
// It depends on nothing but the standard library, so that every package
// may use it. It must not learn about WeChat, ClickHouse or the plugin
// protocol: those classify their own errors and mark them with a Kind.
package kind
