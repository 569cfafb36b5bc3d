// Package wxsim simulates the WeChat Official Account API (the parts wxsync
// uses) for tests, the demo and the benchmarks: tokens (classic and
// stable), the follower list, profiles, tags, the blacklist and the quota
// API, with the live API's quirks and a scriptable set of faults. It speaks
// the protocol described in /work/shared/wechat-api.md: every API error is
// HTTP 200 {"errcode":N,"errmsg":"... rid: <rid>"} with a fresh rid.
//
// What it owns:
//   - a deterministic account: follower i has openid [OpenID](seed, i),
//     decodable back to i ([IndexOf]), and a profile that is a pure function
//     of (seed, i); up to 50,000,000 followers without holding them in
//     memory (a page costs O(page size));
//   - the follower list's order and its changes: followers added later are
//     listed at hash-chosen places spread over the whole list (before a
//     walk's cursor too), removed ones drop out (see [Server.AddFollowers],
//     [Server.RemoveFollowers], [Churn]);
//   - token issue and validation, quotas, scripted and rate-based faults
//     ([Fault], [Options.BusyRate]), latency;
//   - many accounts behind one base URL ([Multi]: a Server per account,
//     routed by appid and access token) and a third-party platform's
//     endpoints (ticket push, component and authorizer tokens with
//     refresh-token rotation, 61024), and a central token service;
//   - the truth tests compare against ([Server.Profile],
//     [Server.FollowerOpenIDs], [Server.Tags], ...) and what was asked of it
//     ([Server.Calls], [Server.CallLog], [Server.TokensIssued]).
//
// Rules of the follower list (a client author must know them):
//
//   - user/get lists followers in index order, which is not openid order;
//     next_openid may be any openid the account ever had (a follower that
//     left included: the walk resumes after its place); anything else
//     answers 40003;
//
//   - added follower k (index N+k) is listed immediately before initial
//     follower H(seed,k) mod (N+1), i.e. anywhere; removals are drawn by a
//     seeded hash over every index handed out so far;
//
//   - [Churn] fires once, before the (AfterCalls+1)-th user/get call;
//
//   - the blacklist is Blacklisted initial followers, indices j*(N/B),
//     unaffected by churn;
//
//   - tag membership is periodic in the index (period 4096, a seeded random
//     table), so tags/get counts are exact.
//
//   - the message push ([Pusher]): changes to the account (subscribes,
//     unsubscribes, QR scans) pushed to a receiver as WeChat pushes them,
//     signed and encrypted by connector/push (the protocol's one
//     implementation), with WeChat's timeout and retries, and the record of
//     what was delivered and what was given up.
//
// What it must not touch: it is test infrastructure. It knows nothing of
// wxsync's client (connector/wechat), sources, ClickHouse or plugins, and
// nothing outside this package imports it except tests, benchmarks and
// cmd/wxsim. It keeps no global state, reads no environment and starts no
// goroutines of its own outside a call (a Pusher's Push and Run deliver in
// goroutines that have ended when they return); network listening is the
// caller's business (httptest.NewServer(srv) or cmd/wxsim).
package wxsim
