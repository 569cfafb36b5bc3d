// Package host is the host side of the plugin protocol: the run/commit
// loop that turns a source's Read into committed rows and saved cursors,
// the profile filter it serves the source (NeedProfiles), the run record
// (wxsync_runs), and the launch of a source plugin binary; and, for many
// accounts, the account list (LoadAccounts: secrets by reference), the
// shards (Shard: jump consistent hashing of the appid), RunMany (bounded
// parallel Run per account, failures isolated, an aggregate Summary), and
// the sealed credentials a platform account needs (Sealer: AES-256-GCM;
// StoreTicket, LoadTicket, LoadRefreshToken, Keeper).
//
// It owns the one rule that protects data: a cursor is never saved before
// every row it covers is committed, across streams. It reaches ClickHouse
// only through Destination (which *sink.Sink implements) and the source
// only through Source (which *plugin.Client implements), so that its
// ordering is unit-tested with fakes, and so that other drivers (an event
// receiver, a cluster, many accounts) can run the same loop.
//
// It must not touch configuration (environment, flags), the terminal, the
// progress display or the end-of-run summary: those are the command's
// (cmd/wxsync), fed through Observer and Report. It opens no connection of
// its own.
package host
