// Package plugin is the protocol between the wxsync host and a source
// plugin: the go-plugin handshake and gRPC glue, the Go interface a source
// implements, the host's client for it, typed errors, and the Arrow IPC
// framing of record batches and schemas.
//
// The wire messages are defined once, in pb/source.proto.
//
// It knows nothing about WeChat (connector/) or ClickHouse (sink/): it only
// moves batches, checkpoints, progress and errors between two processes.
package plugin
