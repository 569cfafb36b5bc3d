// Package source is the WeChat source: its configuration and its streams
// (followers, and later users, tags and blacklist), each of which walks the
// API through connector/wechat and emits Arrow record batches and
// checkpoints through a plugin.Emitter.
//
// A stream's cursor is opaque to everyone else: only this package encodes
// and decodes it. It must not talk to ClickHouse or know where batches go.
package source
