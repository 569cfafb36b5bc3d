// Package source is the WeChat source: its configuration and its streams
// (followers, users, tags and blacklist), which call the API through
// connector/wechat and emit Arrow record batches and checkpoints through a
// plugin.Emitter. The users stream rides the follower walk (users.go): it
// asks the host (plugin.Host) which openids of each page need a profile,
// and fetches those with batchget workers while the walk lists on.
//
// Listen (listen.go) is the push receiver of wxsync listen: it serves the
// account's push URL through connector/receiver, commits follow events
// through the host (plugin.ListenHost) and acknowledges them after, and
// fetches new followers' profiles in batches (listen_profiles.go). In
// platform mode (ListenConfig.ComponentAppID) it serves a third-party
// platform's authorisation-event URL instead (receiver.Component) and hands
// each component_verify_ticket to the host (plugin.TicketKeeper) to store.
//
// A stream's cursor is opaque to everyone else: only this package encodes
// and decodes it. It must not talk to ClickHouse or know where batches go.
package source
