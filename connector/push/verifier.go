package push

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Defaults of Config.
const (
	DefaultWindow  = 5 * time.Minute // replay window on the signed timestamp
	DefaultMaxBody = 64 << 10        // bytes; real pushes are a few hundred
	maxNonce       = 64
	maxEchoStr     = 256
)

// Config is what a receiver knows of its account. Only Token is required;
// the encrypted modes need AESKey and AppID.
type Config struct {
	// Token is the push Token of the account's server settings (3–32 characters).
	Token string
	// AppID is the account's appid, which must end every decrypted message.
	AppID string
	// AESKey is the current EncodingAESKey; empty: encrypted pushes are
	// refused (ReasonNoKey).
	AESKey string
	// PreviousAESKey is the EncodingAESKey being rotated out, tried when
	// AESKey does not open a push; empty when none.
	PreviousAESKey string
	// OriginalID is the account's original id (gh_...); when set, a push
	// whose ToUserName differs is refused (ReasonWrongAccount).
	OriginalID string
	// Window is how far the signed timestamp may be from Now, either way;
	// 0 means DefaultWindow.
	Window time.Duration
	// MaxBody bounds a push body in bytes; 0 means DefaultMaxBody.
	MaxBody int64
	// Now is the clock of the replay window; nil means time.Now.
	Now func() time.Time
}

// Verifier checks, decrypts and decodes pushes for one account. It is
// immutable and safe for concurrent use.
type Verifier struct {
	token      string
	appID      string
	originalID string
	keys       []*Key // current first
	window     time.Duration
	maxBody    int64
	now        func() time.Time
}

// NewVerifier validates c and returns a Verifier. Its errors name the
// setting at fault, never a secret's value.
func NewVerifier(c Config) (*Verifier, error) {
	if n := len(c.Token); n < 3 || n > 32 || !printableASCII(c.Token) {
		return nil, fmt.Errorf("push: the Token must be 3 to 32 printable ASCII characters (got %d bytes)", n)
	}
	v := &Verifier{token: c.Token, appID: c.AppID, originalID: c.OriginalID,
		window: c.Window, maxBody: c.MaxBody, now: c.Now}
	if v.window == 0 {
		v.window = DefaultWindow
	}
	if v.maxBody == 0 {
		v.maxBody = DefaultMaxBody
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case v.window < 0 || v.maxBody < 0:
		return nil, fmt.Errorf("push: Window and MaxBody must not be negative")
	case len(c.OriginalID) > MaxIDLength || !printableASCII(c.OriginalID):
		return nil, fmt.Errorf("push: OriginalID is not an original id (gh_...)")
	case len(c.AppID) > MaxAppIDLength || !printableASCII(c.AppID):
		return nil, fmt.Errorf("push: AppID is not an appid")
	case c.AESKey == "" && c.PreviousAESKey != "":
		return nil, fmt.Errorf("push: PreviousAESKey is set without AESKey")
	case c.AESKey != "" && c.AppID == "":
		return nil, fmt.Errorf("push: AESKey needs AppID (decrypted pushes end with it)")
	}
	for _, s := range []struct{ name, key string }{{"AESKey", c.AESKey}, {"PreviousAESKey", c.PreviousAESKey}} {
		if s.key == "" {
			continue
		}
		k, err := ParseKey(s.key)
		if err != nil {
			return nil, fmt.Errorf("push: %s: %w", s.name, err)
		}
		v.keys = append(v.keys, k)
	}
	return v, nil
}

// VerifyURL checks WeChat's GET verification of the push URL (signature
// over token, timestamp, nonce; timestamp inside the window) and returns
// echostr, which the receiver answers as it came, as text/plain.
func (v *Verifier) VerifyURL(q url.Values) (echostr string, err error) {
	p, err := v.signedParams(q)
	if err != nil {
		return "", err
	}
	echo, err := single(q, "echostr", true)
	if err != nil {
		return "", err
	}
	if len(echo) > maxEchoStr || !safeToken(echo) {
		return "", reject(ReasonBadQuery, "echostr is too long or has characters outside [A-Za-z0-9._=-]")
	}
	if p.signature == "" {
		return "", reject(ReasonBadSignature, "signature is missing")
	}
	if !signatureMatches(p.signature, Signature(v.token, p.timestamp, p.nonce)) {
		return "", reject(ReasonBadSignature, "signature does not match")
	}
	if err := v.checkTime(p.ts); err != nil {
		return "", err
	}
	return echo, nil
}

// ReadRequest reads and opens a push: POST only, the body bounded by
// MaxBody (413 beyond), then [Verifier.Open]. The openid WeChat appends to
// the query is accepted and ignored: the signed body says who it is.
func (v *Verifier) ReadRequest(r *http.Request) (Message, error) {
	if r.Method != http.MethodPost {
		return Message{}, reject(ReasonBadMethod, "a push must be a POST")
	}
	if r.ContentLength > v.maxBody {
		return Message{}, reject(ReasonTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, v.maxBody))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
	if err != nil {
		return Message{}, fmt.Errorf("push: reading the body: %w", err)
	}
	return v.Open(r.URL.Query(), body)
}

// signed holds the query parameters every request carries.
type signed struct {
	signature, msgSignature, timestamp, nonce, encryptType string
	ts                                                     int64
}

func (v *Verifier) signedParams(q url.Values) (signed, error) {
	var p signed
	var err error
	fields := []struct {
		dst      *string
		name     string
		required bool
	}{{&p.timestamp, "timestamp", true}, {&p.nonce, "nonce", true}, {&p.signature, "signature", false},
		{&p.msgSignature, "msg_signature", false}, {&p.encryptType, "encrypt_type", false}}
	for _, f := range fields {
		if *f.dst, err = single(q, f.name, f.required); err != nil {
			return p, err
		}
	}
	ts, ok := parseDigits(p.timestamp)
	if !ok {
		return p, reject(ReasonBadQuery, "timestamp is not an integer of seconds")
	}
	p.ts = ts
	if len(p.nonce) > maxNonce || !safeToken(p.nonce) {
		return p, reject(ReasonBadQuery, "nonce is too long or has characters outside [A-Za-z0-9._=-]")
	}
	switch p.encryptType {
	case "", "raw", "aes":
	default:
		return p, reject(ReasonBadQuery, "encrypt_type is neither raw nor aes")
	}
	return p, nil
}

// single returns the one value of a query parameter; a repeated parameter
// is refused, so no two parts of the stack can read different values.
func single(q url.Values, name string, required bool) (string, error) {
	vs := q[name]
	switch {
	case len(vs) > 1:
		return "", reject(ReasonBadQuery, name+" is repeated")
	case len(vs) == 0 || vs[0] == "":
		if required {
			return "", reject(ReasonBadQuery, name+" is missing")
		}
		return "", nil
	}
	return vs[0], nil
}

func safeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != '=' {
			return false
		}
	}
	return true
}

func (v *Verifier) checkTime(ts int64) error {
	now := v.now().Unix()
	if abs(now-ts) > int64(v.window/time.Second) {
		return reject(ReasonStaleTimestamp, fmt.Sprintf("timestamp is %ds away from now (window %s)", now-ts, v.window))
	}
	return nil
}

// abs of a difference of two values in 0..10^18: no overflow.
func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
