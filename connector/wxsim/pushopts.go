package wxsim

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

// PushMix weighs the changes a [Pusher] draws: a new follower (subscribe),
// a follower leaving (unsubscribe), a follower scanning a QR code (SCAN).
type PushMix struct {
	Subscribe, Unsubscribe, Scan int
}

// ParsePushMix parses the CLI form "SUBSCRIBE:UNSUBSCRIBE:SCAN", e.g. "6:3:1".
func ParsePushMix(s string) (PushMix, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return PushMix{}, fmt.Errorf("wxsim: push mix %q: want SUBSCRIBE:UNSUBSCRIBE:SCAN", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return PushMix{}, fmt.Errorf("wxsim: push mix %q: field %d is not a non-negative integer", s, i+1)
		}
		v[i] = n
	}
	return PushMix{Subscribe: v[0], Unsubscribe: v[1], Scan: v[2]}, nil
}

// String returns the CLI form.
func (m PushMix) String() string {
	return fmt.Sprintf("%d:%d:%d", m.Subscribe, m.Unsubscribe, m.Scan)
}

// PushOptions configures a [Pusher]. Start from [DefaultPushOptions] and
// set URL and Token (and AESKey for the encrypted modes).
type PushOptions struct {
	// URL is the receiver's push URL (http or https); the pusher appends
	// signature, timestamp, nonce, openid (and encrypt_type, msg_signature)
	// to its query.
	URL string
	// Mode is the account's message encryption mode; default plaintext.
	Mode push.Mode
	// Token is the push Token (3–32 characters).
	Token string
	// AESKey is the EncodingAESKey (43 characters); compatible and safe modes.
	AESKey string
	// OriginalID is the ToUserName of every push; "" means "gh_" and 12 hex
	// digits derived from the Server's seed.
	OriginalID string
	// Seed drives the changes drawn (kind, who, which QR code); default 1.
	Seed uint64
	// Mix weighs subscribes, unsubscribes and scans; default 6:3:1.
	Mix PushMix
	// Timeout is how long one attempt waits for its answer; default 5 s,
	// as WeChat.
	Timeout time.Duration
	// Attempts is how many times an event is sent before it is given up;
	// default 3, as WeChat.
	Attempts int
	// RetryDelay is the pause between a failed attempt and the next; default
	// 0 (a timed-out attempt has already waited Timeout).
	RetryDelay time.Duration
	// Concurrency bounds the events being delivered at once by Push and
	// Run; default 64.
	Concurrency int
	// Client sends the pushes; nil means a client of its own (no
	// client-wide timeout: Timeout bounds each attempt).
	Client *http.Client
	// Now is the clock of CreateTime and the signed timestamps; nil means
	// the Server's Options.Now.
	Now func() time.Time
}

// DefaultPushOptions returns the default push options (WeChat's retry
// behaviour, plaintext mode); it is the only place they are defined.
func DefaultPushOptions() PushOptions {
	return PushOptions{
		Mode:        push.ModePlaintext,
		Seed:        1,
		Mix:         PushMix{Subscribe: 6, Unsubscribe: 3, Scan: 1},
		Timeout:     5 * time.Second,
		Attempts:    3,
		Concurrency: 64,
	}
}

// Validate reports every invalid push option at once; its text never
// contains the Token or the AESKey.
func (o PushOptions) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("URL %q is not an http(s) URL", o.URL)
	}
	if o.Mode < push.ModePlaintext || o.Mode > push.ModeSafe {
		bad("Mode %d is invalid", int(o.Mode))
	}
	if n := len(o.Token); n < 3 || n > 32 {
		bad("Token must be 3 to 32 characters (got %d)", n)
	}
	if o.Mode != push.ModePlaintext {
		if _, err := push.ParseKey(o.AESKey); err != nil {
			bad("mode %s needs a valid AESKey: %v", o.Mode, err)
		}
	}
	if o.Mix.Subscribe < 0 || o.Mix.Unsubscribe < 0 || o.Mix.Scan < 0 || o.Mix.Subscribe+o.Mix.Unsubscribe+o.Mix.Scan == 0 {
		bad("Mix %s: weights must be non-negative and not all 0", o.Mix)
	}
	if o.Timeout <= 0 || o.RetryDelay < 0 {
		bad("Timeout must be positive and RetryDelay not negative")
	}
	if o.Attempts < 1 || o.Concurrency < 1 {
		bad("Attempts and Concurrency must be at least 1")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("wxsim: invalid push options (start from DefaultPushOptions): %w", errors.Join(errs...))
}
