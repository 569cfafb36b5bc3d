package wechat

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
)

// Error codes the client reacts to. See the WeChat global return code list.
const (
	CodeSystemBusy          = -1
	CodeInvalidCredential   = 40001 // token invalid or not latest; wrong secret on /cgi-bin/token
	CodeInvalidOpenID       = 40003
	CodeInvalidAppID        = 40013
	CodeInvalidToken        = 40014 // malformed access token
	CodeInvalidSecret       = 40125
	CodeIPNotWhitelisted    = 40164
	CodeMissingToken        = 41001
	CodeTokenExpired        = 42001
	CodeDailyQuota          = 45009
	CodeTooFrequent         = 45011
	CodeAPIUnauthorized     = 48001
	CodeUserUnauthorized    = 50001
	CodeComponentAccount    = 61024
	CodeQuotaUnknownCGIPath = 76021
)

// APIError is an errcode ≠ 0 answered by the platform.
type APIError struct {
	Path string // API path, e.g. /cgi-bin/user/get
	Code int    // errcode
	Msg  string // the full errmsg (with any secret or token scrubbed out)
	RID  string // the request id parsed from errmsg ("rid: ..."); WeChat support asks for it
}

// Error names the path, errcode and rid, says what is wrong and how to fix
// it, and ends with the platform's errmsg.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("wechat: ")
	b.WriteString(e.Path)
	b.WriteString(": errcode ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.RID != "" {
		b.WriteString(" (rid ")
		b.WriteString(e.RID)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(hint(e.Path, e.Code))
	if e.Msg != "" {
		b.WriteString(" [errmsg: ")
		b.WriteString(e.Msg)
		b.WriteString("]")
	}
	return b.String()
}

func isTokenPath(path string) bool {
	return path == pathToken || path == pathStableToken || path == pathComponentToken
}

func isTokenCode(code int) bool {
	return code == CodeInvalidCredential || code == CodeInvalidToken || code == CodeTokenExpired
}

func hint(path string, code int) string {
	switch code {
	case CodeSystemBusy:
		return "WeChat system busy; retried with backoff"
	case CodeInvalidCredential:
		if isTokenPath(path) {
			return "invalid credential: the AppSecret is wrong or was reset; check WECHAT_SECRET (reset it in the MP console under 设置与开发 → 基本配置 if unknown)"
		}
		return "the access token is invalid or no longer the latest: another service is probably fetching tokens for this AppID with /cgi-bin/token (each fetch revokes earlier tokens) or forcing stable-token refreshes"
	case CodeInvalidToken:
		return "the access token is malformed: check that nothing between this host and WeChat rewrites requests"
	case CodeTokenExpired:
		return "the access token expired: check this host's clock and that no other service revokes tokens for this AppID"
	case CodeInvalidAppID:
		return "invalid AppID: check WECHAT_APPID (设置与开发 → 基本配置 → 开发者ID)"
	case CodeInvalidSecret:
		return "invalid AppSecret: check WECHAT_SECRET, or reset it in the MP console (设置与开发 → 基本配置 → AppSecret) and update WECHAT_SECRET"
	case CodeIPNotWhitelisted:
		return "this host's egress IP is not on the account's IP whitelist: add it in the MP console under 设置与开发 → 基本配置 → IP白名单 (the errmsg names the IP)"
	case CodeMissingToken:
		return "the request carried no access token: this is a bug in wxsync's WeChat client, please report it"
	case CodeAPIUnauthorized:
		return "api unauthorized: the account is not verified or lacks the user-management permission (personal subscription accounts cannot call user/get at all); verify the account or use one with the permission (设置与开发 → 接口权限)"
	case CodeUserUnauthorized:
		return "the API is not authorised for this account: grant it in the MP console (设置与开发 → 接口权限) or, for a third-party platform, in the authorisation"
	case CodeComponentAccount:
		return "this account is managed by a third-party platform: call the API with the authorizer access token obtained through the component access token, not with AppID/AppSecret"
	case CodeDailyQuota:
		return "the daily quota of this API is reached: wait until tomorrow (quotas reset at midnight Beijing time) or clear it in the MP console (设置与开发 → 接口权限 → 调用次数清零); the run resumes from its cursor"
	case CodeTooFrequent:
		return "API called too frequently; retried with backoff; lower RateLimit"
	case CodeInvalidOpenID:
		return "invalid openid: an openid in the request is malformed or does not belong to this AppID (collected under another account?)"
	case CodeQuotaUnknownCGIPath:
		return "the quota API does not know this cgi_path: pass an API path such as /cgi-bin/user/get"
	}
	return "unexpected errcode; look it up in the WeChat global return code list"
}

var ridRE = regexp.MustCompile(`rid:\s*([^\s,;]+)`)

func parseRID(msg string) string {
	if m := ridRE.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// RetryError reports a call whose retryable failures outlasted MaxAttempts
// or MaxElapsed. [Classify] maps it to kind.Temporary.
type RetryError struct {
	Path     string
	Attempts int           // HTTP requests made by the call
	Elapsed  time.Duration // time spent in the call
	Last     error         // the last failure
}

// Error says how many attempts were made and what the last cause was.
func (e *RetryError) Error() string {
	return fmt.Sprintf("wechat: %s: giving up after %d attempt(s) in %v; last error: %v",
		e.Path, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Last)
}

// Unwrap returns the last failure.
func (e *RetryError) Unwrap() error { return e.Last }

// TokenConflictError reports a call whose access token was rejected
// (40001, 40014 or 42001) more often than the client refreshes it for one
// call (see the token rule on [Client]). Tokens that keep being revoked
// right after they are fetched mean another service is fetching or forcing
// tokens for the same AppID; running again later usually succeeds, so
// [Classify] maps it to [kind.Temporary].
type TokenConflictError struct {
	Path      string
	Refreshes int       // token refreshes made for the call, all followed by another rejection
	Last      *APIError // the last rejection (its errmsg scrubbed)
}

// Error says what happened, what most likely causes it and how to fix it.
// It quotes no token.
func (e *TokenConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wechat: %s: the access token was rejected again after each of %d refreshes (last: errcode %d", e.Path, e.Refreshes, e.Last.Code)
	if e.Last.RID != "" {
		b.WriteString(", rid ")
		b.WriteString(e.Last.RID)
	}
	if e.Last.Msg != "" {
		b.WriteString(", errmsg: ")
		b.WriteString(e.Last.Msg)
	}
	b.WriteString("): another service is revoking this AppID's access tokens, ")
	b.WriteString("by fetching them with /cgi-bin/token (each fetch revokes the previous token) or with /cgi-bin/stable_token force_refresh=true. ")
	b.WriteString("Fix: make every service that uses this AppID call stable_token with force_refresh=false (wxsync: WECHAT_TOKEN_MODE=stable), ")
	b.WriteString("or have one token service fetch tokens for all of them. Stopped for now; the next run resumes from the saved cursor")
	return b.String()
}

// Unwrap returns the last rejection.
func (e *TokenConflictError) Unwrap() error { return e.Last }

// ResponseError reports an answer that is not what the API promises
// (malformed openids, inconsistent counts, wrong JSON shape, oversized or
// non-UTF-8 body). It is not retried.
type ResponseError struct {
	Path string
	// Param and Cursor name the page that was asked for ("next_openid" or
	// "begin_openid" and its value); Param is empty for non-page calls.
	Param, Cursor string
	Problem       string
	Err           error // underlying cause, if any
}

// Error names the path, the page and the problem.
func (e *ResponseError) Error() string {
	var b strings.Builder
	b.WriteString("wechat: ")
	b.WriteString(e.Path)
	if e.Param != "" {
		fmt.Fprintf(&b, " (page %s=%q)", e.Param, e.Cursor)
	}
	b.WriteString(": invalid response: ")
	b.WriteString(e.Problem)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *ResponseError) Unwrap() error { return e.Err }

// Classify maps err to the [kind.Kind] a scheduler acts on:
//
//	kind.None:      nil
//	kind.Config:    *ConfigError; APIError 40013 40125 40164 48001 50001 61024,
//	                and 40001 from a token endpoint (wrong secret)
//	kind.Temporary: APIError 45009; *RetryError; *TokenConflictError; *KeepError;
//	                context.Canceled / DeadlineExceeded
//	kind.Internal:  everything else
func Classify(err error) kind.Kind {
	if err == nil {
		return kind.None
	}
	var re *RetryError
	var tc *TokenConflictError
	var ke *KeepError
	if errors.As(err, &re) || errors.As(err, &tc) || errors.As(err, &ke) {
		return kind.Temporary
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return kind.Temporary
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return kind.Config
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case CodeInvalidAppID, CodeInvalidSecret, CodeIPNotWhitelisted,
			CodeAPIUnauthorized, CodeUserUnauthorized, CodeComponentAccount:
			return kind.Config
		case CodeInvalidCredential:
			if isTokenPath(ae.Path) {
				return kind.Config
			}
		case CodeDailyQuota:
			return kind.Temporary
		}
	}
	return kind.Internal
}

// IsQuota reports whether err is (or wraps) errcode 45009, the daily quota
// of an API being used up.
func IsQuota(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == CodeDailyQuota
}

// transportError is a failed HTTP exchange. It replaces *url.Error, whose
// text contains the full URL (access_token, and secret for /cgi-bin/token):
// the URL is rebuilt with the query redacted and only the inner error kept.
type transportError struct {
	method, path string
	err          error
}

func (e *transportError) Error() string {
	u := e.path
	switch e.path {
	case pathToken:
		u += "?grant_type=client_credential&appid=...&secret=" + redacted
	case pathStableToken:
	default:
		u += "?access_token=" + redacted
	}
	return "wechat: " + e.method + " " + u + ": " + e.err.Error()
}

func (e *transportError) Unwrap() error { return e.err }

// statusError is an HTTP status other than 200.
type statusError struct {
	path        string
	status      int
	contentType string
	size        int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("wechat: %s: HTTP status %d (content type %q, %d body bytes): upstream or proxy error", e.path, e.status, e.contentType, e.size)
}
