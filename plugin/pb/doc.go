// Package pb is the generated code of source.proto, the gRPC protocol
// between the wxsync host and its source plugins. Nothing here is written
// by hand: edit source.proto and run `make proto`. It holds messages and
// stubs only; what they mean is package plugin's.
package pb
