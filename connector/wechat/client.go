package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/time/rate"
)

// API paths.
const (
	pathToken       = "/cgi-bin/token"
	pathStableToken = "/cgi-bin/stable_token"
	pathUserGet     = "/cgi-bin/user/get"
	pathBlacklist   = "/cgi-bin/tags/members/getblacklist"
	pathBatchGet    = "/cgi-bin/user/info/batchget"
	pathTags        = "/cgi-bin/tags/get"
	pathQuota       = "/cgi-bin/openapi/quota/get"
	// The third-party platform's token endpoints (TokenSourcePlatform).
	pathComponentToken  = "/cgi-bin/component/api_component_token"
	pathAuthorizerToken = "/cgi-bin/component/api_authorizer_token"
	// PathTokenService is the name a central token service's requests are
	// counted under in [Client.Calls] (it is not a WeChat path).
	PathTokenService = "token-service"
)

// Client calls the WeChat Official Account API. It is safe for concurrent
// use; all calls share one token cache, one rate limiter and one call
// counter.
//
// Token rule. A token is cached until min(5 min, 10 % of expires_in) before
// it expires. When a call is answered 40001, 40014 or 42001:
//  1. if a token was obtained since the call took its own, another call
//     already refreshed: the call just retries with the cached token (so N
//     workers hitting one revoked token cause one token request, not N);
//  2. otherwise the rejected token is dropped and a new one fetched (stable
//     mode: force_refresh=false, which hands out the renewed token near
//     expiry; classic mode: GET /cgi-bin/token);
//  3. stable mode only: if that returns the very token just rejected, one
//     force_refresh=true request is made, but at most one per 30 s per Client
//     (the platform allows 20 a day, 30 s apart); otherwise the call tries
//     the token the endpoint answered once more;
//  4. the call is retried, outside MaxAttempts: at once after its first
//     rejection, after InitialBackoff, then twice that (at most MaxBackoff)
//     after the next ones. A call rejected again after [MaxTokenRefreshes]
//     refreshes returns a *[TokenConflictError], classified temporary:
//     another service is revoking this AppID's tokens.
//
// So one token event costs at most 2 token requests (a refresh and a
// force_refresh), however many calls met it.
//
// 41001 (no token sent) is never retried: it is a bug in this package.
type Client struct {
	cfg     Config
	base    string
	hc      *http.Client
	log     *slog.Logger
	limiter *rate.Limiter // nil: unlimited
	now     func() time.Time
	tokens  *tokenCache
	scrub   *redactor
	// platform holds the component token and the current refresh token
	// (TokenSourcePlatform only).
	platform *platformTokens

	callsMu sync.Mutex
	calls   map[string]int64
}

// New validates cfg (see [Config.Validate]), fills in defaults and returns a
// client. It makes no request.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:   cfg,
		base:  strings.TrimRight(cfg.BaseURL, "/"),
		hc:    cfg.HTTPClient,
		log:   cfg.Logger,
		now:   time.Now,
		scrub: &redactor{},
		calls: make(map[string]int64),
	}
	if c.hc == nil {
		c.hc = NewHTTPClient()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.RateLimit > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	for _, s := range cfg.secrets() {
		c.scrub.pin(s)
	}
	if cfg.TokenSource == TokenSourcePlatform {
		c.platform = &platformTokens{refresh: cfg.Platform.RefreshToken}
	}
	c.tokens = &tokenCache{c: c, sem: make(chan struct{}, 1)}
	return c, nil
}

// idleConnsPerHost is how many idle connections to the API the client
// keeps. net/http's default of 2 would close (and later re-dial, with a TLS
// handshake each time) most connections of 8 batchget calls in flight.
const idleConnsPerHost = 64

// NewHTTPClient returns the HTTP client New uses when Config.HTTPClient is
// nil: net/http's defaults, keeping idleConnsPerHost connections to the
// API alive between calls. Clients that share one (the many accounts one
// plugin serves) share its connections, and leave no idle ones behind.
func NewHTTPClient() *http.Client { return &http.Client{Transport: newTransport()} }

// newTransport is net/http's default transport keeping idleConnsPerHost
// connections to the API alive between calls.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, idleConnsPerHost)
	t.MaxIdleConnsPerHost = idleConnsPerHost
	return t
}

// Calls returns the number of HTTP requests made so far per API path
// (token requests and retries included), for run records.
func (c *Client) Calls() map[string]int64 {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	return maps.Clone(c.calls)
}

func (c *Client) count(path string) {
	c.callsMu.Lock()
	c.calls[path]++
	c.callsMu.Unlock()
}

// redactor removes the configured secrets and every token this client has
// seen from text that may end up in an error or a log.
type redactor struct {
	mu      sync.RWMutex
	pinned  []string // the configured secrets, never forgotten
	secrets []string // tokens seen, the newest maxRemembered
}

const maxRemembered = 64

// pin adds a configured secret, which is never dropped.
func (r *redactor) pin(s string) {
	if s == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pinned = append(r.pinned, s)
}

func (r *redactor) add(s string) {
	if s == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.secrets {
		if x == s {
			return
		}
	}
	if len(r.secrets) >= maxRemembered { // drop the oldest token
		r.secrets = append(r.secrets[:0], r.secrets[1:]...)
	}
	r.secrets = append(r.secrets, s)
}

func (r *redactor) text(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, list := range [][]string{r.pinned, r.secrets} {
		for _, x := range list {
			if strings.Contains(s, x) {
				s = strings.ReplaceAll(s, x, redacted)
			}
		}
	}
	return s
}

// err returns err, or a plain error with the same (scrubbed) text if its
// text contains a secret.
func (r *redactor) err(err error) error {
	s := err.Error()
	if t := r.text(s); t != s {
		return errors.New(t)
	}
	return err
}

// request describes one API call.
type request struct {
	method, path string
	query        url.Values // parameters other than access_token
	body         []byte     // JSON body of a POST
	auth         bool       // send an access token
	param        string     // page cursor parameter name, for errors
	cursor       string     // page cursor value, for errors
	url          string     // absolute URL instead of the API base + path (a token service)
	bearer       string     // an Authorization: Bearer credential to send
}

func (r *request) responseError(problem string, err error) *ResponseError {
	return &ResponseError{Path: r.path, Param: r.param, Cursor: r.cursor, Problem: problem, Err: err}
}

// status is the envelope every answer may carry.
type status struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s *status) envelope() *status { return s }

type enveloped interface{ envelope() *status }

// fastDecoder is an answer that can decode the plain shape the API sends
// without encoding/json; decodeFast reports false, having changed nothing,
// for anything else, which encoding/json then decodes (fastpage.go).
type fastDecoder interface{ decodeFast(data []byte) bool }

// unmarshal decodes an answer as encoding/json does, through its own
// decoder when it has one and the body has the plain shape.
func unmarshal(data []byte, out enveloped) error {
	if fd, ok := out.(fastDecoder); ok && fd.decodeFast(data) {
		return nil
	}
	return json.Unmarshal(data, out)
}

type outcome int

const (
	outcomeOK        outcome = iota
	outcomeRetry             // transient: back off and retry
	outcomeToken             // token rejected: refresh and retry
	outcomePermanent         // give up now
)

// MaxTokenRefreshes bounds the token refreshes one call makes after its
// token is rejected (see the token rule on [Client]).
const MaxTokenRefreshes = 3

// callState is one call's progress through its retries.
type callState struct {
	req       *request
	start     time.Time
	bo        *backoff.ExponentialBackOff
	attempts  int   // HTTP requests made
	counted   int   // attempts counted against MaxAttempts
	refreshes int   // token refreshes made after a rejection
	last      error // the last retryable failure
}

func (c *Client) newCallState(req *request) *callState {
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     c.cfg.InitialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.cfg.MaxBackoff,
		MaxElapsedTime:      c.cfg.MaxElapsed,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	bo.Reset()
	return &callState{req: req, start: c.now(), bo: bo}
}

// call performs req with retries and token handling and decodes the answer
// into a new T.
func call[T any, PT interface {
	*T
	enveloped
}](ctx context.Context, c *Client, req *request) (*T, error) {
	st := c.newCallState(req)
	for {
		tok, gen, err := c.prepare(ctx, st)
		if err != nil {
			return nil, err
		}
		st.attempts++
		st.counted++
		out := PT(new(T))
		kind, err := c.attempt(ctx, req, tok, st.attempts, out)
		switch kind {
		case outcomeOK:
			return (*T)(out), nil
		case outcomePermanent:
			return nil, err
		case outcomeToken:
			err = c.afterTokenRejection(ctx, st, tok, gen, err)
		case outcomeRetry:
			err = c.afterRetryable(ctx, st, err)
		}
		if err != nil {
			return nil, err
		}
	}
}

// prepare readies the next attempt of a call: it checks the context,
// takes the token (and its generation) if the call sends one, and waits
// for the rate limiter.
func (c *Client) prepare(ctx context.Context, st *callState) (tok string, gen uint64, err error) {
	if ctx.Err() != nil {
		return "", 0, ctxError(ctx, st)
	}
	if st.req.auth {
		if tok, gen, err = c.tokens.get(ctx); err != nil {
			return "", 0, err
		}
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return "", 0, ctxError(ctx, st)
			}
			return "", 0, fmt.Errorf("wechat: %s: waiting for the rate limiter would pass the context deadline (after %d attempt(s)): %w", st.req.path, st.attempts, context.DeadlineExceeded)
		}
	}
	return tok, gen, nil
}

// afterTokenRejection handles the rejection of token tok (generation gen)
// by the API: it refreshes and lets the call retry, or gives up once the
// call has made MaxTokenRefreshes refreshes.
func (c *Client) afterTokenRejection(ctx context.Context, st *callState, tok string, gen uint64, err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	st.counted-- // retries after a token rejection are not counted against MaxAttempts
	if st.refreshes >= MaxTokenRefreshes {
		return &TokenConflictError{Path: st.req.path, Refreshes: st.refreshes, Last: ae}
	}
	st.refreshes++
	if st.refreshes > 1 {
		wait := min(c.cfg.InitialBackoff<<(st.refreshes-2), c.cfg.MaxBackoff)
		c.log.LogAttrs(ctx, slog.LevelDebug, "wechat access token rejected again",
			slog.String("path", st.req.path), slog.Int("errcode", ae.Code), slog.Int("refresh", st.refreshes), slog.Duration("backoff", wait))
		if err := c.sleep(ctx, st, wait); err != nil {
			return err
		}
	}
	return c.tokens.refreshAfter(ctx, tok, gen, ae)
}

// afterRetryable records a transient failure and waits out the backoff,
// or returns a *RetryError when MaxAttempts or MaxElapsed is reached.
func (c *Client) afterRetryable(ctx context.Context, st *callState, err error) error {
	st.last = err
	if ctx.Err() != nil {
		return ctxError(ctx, st)
	}
	wait := st.bo.NextBackOff()
	elapsed := c.now().Sub(st.start)
	if st.counted >= c.cfg.MaxAttempts || wait == backoff.Stop || elapsed+wait > c.cfg.MaxElapsed {
		return &RetryError{Path: st.req.path, Attempts: st.attempts, Elapsed: elapsed, Last: st.last}
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "wechat retry",
		slog.String("path", st.req.path), slog.Int("attempt", st.attempts), slog.Duration("backoff", wait))
	return c.sleep(ctx, st, wait)
}

// sleep waits d, or returns the call's context error if ctx ends first.
func (c *Client) sleep(ctx context.Context, st *callState, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctxError(ctx, st)
	case <-t.C:
		return nil
	}
}

func ctxError(ctx context.Context, st *callState) error {
	if st.last == nil {
		return fmt.Errorf("wechat: %s: %w (after %d attempt(s))", st.req.path, ctx.Err(), st.attempts)
	}
	return fmt.Errorf("wechat: %s: %w (after %d attempt(s); last error: %v)", st.req.path, ctx.Err(), st.attempts, st.last)
}

// attempt makes one HTTP request and decodes its answer into out.
func (c *Client) attempt(ctx context.Context, req *request, tok string, n int, out enveloped) (outcome, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.HTTPTimeout)
	defer cancel()
	hr, err := c.newHTTPRequest(actx, req, tok)
	if err != nil {
		return outcomePermanent, err
	}
	log := attemptLog{c: c, req: req, n: n, t0: c.now()}
	c.count(req.path)
	resp, err := c.hc.Do(hr)
	if err != nil {
		inner := err
		var ue *url.Error
		if errors.As(err, &ue) {
			inner = ue.Err // drop the URL: it holds the token (and the secret for /cgi-bin/token)
		}
		te := &transportError{method: req.method, path: req.path, err: c.scrub.err(c.timeoutCause(ctx, actx, inner))}
		log.done(ctx, 0, te)
		return outcomeRetry, te
	}
	defer resp.Body.Close()
	data, rerr := readBody(resp, c.cfg.MaxBodyBytes+1)
	if rerr != nil {
		err := &transportError{method: req.method, path: req.path, err: fmt.Errorf("reading the response body (status %d, %d bytes read): %w", resp.StatusCode, len(data), c.scrub.err(c.timeoutCause(ctx, actx, rerr)))}
		log.done(ctx, resp.StatusCode, err)
		return outcomeRetry, err
	}
	kind, err := c.decode(req, resp.StatusCode, resp.Header.Get("Content-Type"), data, out)
	log.done(ctx, resp.StatusCode, err)
	return kind, err
}

// newHTTPRequest builds the HTTP request of req, with token tok if req
// sends one.
func (c *Client) newHTTPRequest(ctx context.Context, req *request, tok string) (*http.Request, error) {
	q := maps.Clone(req.query)
	if q == nil {
		q = url.Values{}
	}
	if req.auth {
		q.Set("access_token", tok)
	}
	u := c.base + req.path
	if req.url != "" {
		u = req.url
	}
	if len(q) > 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + q.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil { // its text would contain the URL
		return nil, &transportError{method: req.method, path: req.path, err: errors.New("cannot build the request")}
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "wxsync")
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if req.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+req.bearer)
	}
	return hr, nil
}

// attemptLog writes the debug record of one HTTP request.
type attemptLog struct {
	c   *Client
	req *request
	n   int // the call's attempt number
	t0  time.Time
}

// done logs the request's outcome: its HTTP status (0: no answer) and
// error, whose errcode and rid are logged when it is an *APIError.
func (l attemptLog) done(ctx context.Context, status int, err error) {
	if !l.c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var code int
	var rid string
	var ae *APIError
	if errors.As(err, &ae) {
		code, rid = ae.Code, ae.RID
	}
	attrs := []slog.Attr{
		slog.String("method", l.req.method), slog.String("path", l.req.path),
		slog.Int("attempt", l.n), slog.Int("status", status), slog.Int("errcode", code),
		slog.String("rid", rid), slog.Duration("duration", l.c.now().Sub(l.t0)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.c.log.LogAttrs(ctx, slog.LevelDebug, "wechat request", attrs...)
}

// decode judges an answer (HTTP status, content type ct, body data) and
// decodes it into out.
func (c *Client) decode(req *request, status int, ct string, data []byte, out enveloped) (outcome, error) {
	if int64(len(data)) > c.cfg.MaxBodyBytes {
		return outcomePermanent, req.responseError(fmt.Sprintf("body larger than MaxBodyBytes (%d bytes)", c.cfg.MaxBodyBytes), nil)
	}
	if status != http.StatusOK {
		err := &statusError{path: req.path, status: status, contentType: ct, size: len(data)}
		if status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
			return outcomeRetry, err
		}
		return outcomePermanent, err
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt == "text/html" {
		return outcomeRetry, req.responseError(fmt.Sprintf("HTML answer (content type %q, %d bytes): an upstream proxy or error page, not the API", ct, len(data)), nil)
	}
	if !utf8.Valid(data) {
		return outcomePermanent, req.responseError(fmt.Sprintf("body is not valid UTF-8 (content type %q, %d bytes)", ct, len(data)), nil)
	}
	if err := unmarshal(data, out); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			// Cut short by a proxy, or not JSON at all: retry.
			return outcomeRetry, req.responseError(fmt.Sprintf("body is not JSON (content type %q, %d bytes)", ct, len(data)), err)
		}
		return outcomePermanent, req.responseError("unexpected JSON shape", err)
	}
	st := out.envelope()
	if st.ErrCode == 0 {
		return outcomeOK, nil
	}
	msg := c.scrub.text(st.ErrMsg)
	ae := &APIError{Path: req.path, Code: st.ErrCode, Msg: msg, RID: parseRID(msg)}
	switch {
	case ae.Code == CodeSystemBusy || ae.Code == CodeTooFrequent:
		return outcomeRetry, ae
	case req.auth && isTokenCode(ae.Code):
		return outcomeToken, ae
	}
	return outcomePermanent, ae
}

// readBody reads at most limit bytes of resp's body. A body of known
// length within the limit is read into a buffer of that size at once,
// rather than grown step by step: a follower page is ~300 KB.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n < limit {
		buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead)) // room to see EOF without growing
		_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit))
		return buf.Bytes(), err
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

// timeoutCause names HTTPTimeout when err comes from the per-request
// timeout rather than from the caller's context.
func (c *Client) timeoutCause(ctx, actx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within HTTPTimeout (%v): %w", c.cfg.HTTPTimeout, err)
	}
	return err
}
