// Package receiver is the push endpoint of an Official Account: an
// http.Handler that checks, decrypts and parses each push through
// connector/push, and answers WeChat "success" for a follow event only
// once a Committer has stored it durably.
//
// What it owns:
//   - the answers: the GET verification's echostr; for a follow event,
//     "success" after its commit returned nil, else HTTP 503 once the
//     acknowledgement deadline (AckTimeout, under WeChat's 5 s) passes or
//     the commit fails, so that WeChat retries; "success" at once for
//     other pushes (counted, never stored); a clear 4xx for a rejection;
//   - group commit: pending events wait in one queue; up to Committers
//     commits run at once, each taking everything queued (up to
//     MaxBatch); a committer waits (at most MaxLinger) only while another
//     commit is in flight, so that an idle receiver commits at once;
//   - counters and the acknowledgement latency histogram ([Stats]);
//   - a third-party platform's authorisation-event endpoint ([Component]):
//     a component_verify_ticket push is answered "success" only once a
//     TicketStore has stored the ticket (503 otherwise); the authorisation
//     events (authorized, updateauthorized, unauthorized) are answered at
//     once and counted, never stored.
//
// What it must not touch: where events go (the Committer decides: the
// plugin's host, a test's fake, nothing at all for the benchmark's
// floor), the WeChat API, ClickHouse, the listener socket and TLS (a caller
// mounts the handler on its own http.Server). It reads no environment and
// keeps no global state. It never logs a secret (a verify ticket
// included), a body or a user's message; an openid only at debug level.
package receiver
