// Package plugin is the protocol between the wxsync host and a source
// plugin: the go-plugin handshake and gRPC glue, the Go interface a source
// implements, the host's client for it, typed errors, and the Arrow IPC
// framing of record batches and schemas, and the mutual TLS between the
// two processes (Credentials).
//
// The wire messages are defined once, in pb/source.proto.
//
// A source that receives pushes also implements Listener: the host starts
// it with Client.Listen and commits what it receives through the ListenHost
// it serves on go-plugin's broker (CommitEvents, CommitUsers, and StoreTicket
// for a TicketKeeper host: a platform's verify tickets).
//
// It knows nothing about WeChat (connector/) or ClickHouse (sink/): it only
// moves batches, checkpoints, progress and errors between two processes.
// Its subpackages: kind, the error vocabulary and its one table (kind →
// exit code → run status), and host, the host side: the commit loop that
// writes what a Read sends through a Destination.
package plugin
