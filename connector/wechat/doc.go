// Package wechat is wxsync's client for the WeChat Official Account HTTP API
// (api.weixin.qq.com).
//
// What it owns:
//   - access tokens: fetching them (stable_token by default, classic
//     /cgi-bin/token on request), caching them until shortly before they
//     expire, and refreshing them once when several concurrent calls see the
//     same token rejected, up to [MaxTokenRefreshes] times per call (see
//     [Client] for the rule; a [TokenConflictError] past that);
//   - where tokens come from ([TokenSource]): the account's secret, a central
//     token service (never a WeChat token call), or a third-party platform
//     (component token from the component_verify_ticket, authorizer token
//     from the refresh token, a new refresh token handed to
//     [Platform.KeepRefreshToken] before use);
//   - the defaults and rules of its settings ([DefaultConfig],
//     [Config.Validate]), which a host's configuration uses rather than
//     repeats;
//   - the HTTP calls wxsync needs: the follower list (/cgi-bin/user/get), the
//     blacklist, batch profile lookups, tags and the quota API;
//   - retries with exponential backoff and jitter (bounded by attempts and
//     elapsed time), an optional client-wide rate limit, and a per-path count
//     of the HTTP requests made ([Client.Calls]);
//   - treating every response as untrusted input: size limit, content type,
//     UTF-8, JSON shape and openid syntax are checked before anything is
//     returned;
//   - turning errcodes into [APIError] values that say what is wrong and how
//     to fix it, and into three classes ([Classify]) a scheduler can act on;
//   - keeping secrets secret: neither the appsecret nor any access token ever
//     appears in an error string or a log line (URLs in transport errors are
//     redacted, errmsg texts are scrubbed, [Config] redacts itself).
//
// What it must not touch: it knows nothing about ClickHouse, cursors, run
// records or the walk over the follower list (when to stop paging, resuming,
// duplicates); those belong to the callers. It never calls
// /cgi-bin/clear_quota, never forces a stable token refresh except under the
// rule documented on [Client], keeps no global state and reads no
// environment variables.
package wechat
