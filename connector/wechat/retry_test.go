package wechat

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
)

// failThen answers the first n user/get requests with fail, then a page.
func failThen(f *fakeWX, n int32, fail http.HandlerFunc) *atomic.Int32 {
	var calls atomic.Int32
	f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			fail(w, r)
			return
		}
		okFollowers(f)(w, r)
	})
	return &calls
}

func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

var transientFailures = map[string]http.HandlerFunc{
	"system busy": func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": -1, "errmsg": "system error rid: 6600aa-0005"})
	},
	"too frequent": func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 45011, "errmsg": "api minute-quota reach limit rid: 6600aa-0006"})
	},
	"502 html": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
	},
	"503 empty": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
	"429":       func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) },
	"200 html": func(w http.ResponseWriter, r *http.Request) {
		writeRaw(w, "text/html; charset=utf-8", "<html>proxy login</html>")
	},
	"text/plain garbage": func(w http.ResponseWriter, r *http.Request) {
		writeRaw(w, "text/plain", "upstream connect error")
	},
	"empty body": func(w http.ResponseWriter, r *http.Request) { writeRaw(w, "application/json", "") },
	"truncated body": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "400")
		_, _ = w.Write([]byte(`{"total":2,"count":2,"data":{"openid":["oAbC`))
	},
	"truncated json": func(w http.ResponseWriter, r *http.Request) {
		writeRaw(w, "application/json", `{"total":2,"count":2,"data":{"openid":["oAbC`)
	},
	"connection reset": hangUp,
	"timeout":          hang, // the client's per-request timeout fires

}

func TestTransientFailuresAreRetried(t *testing.T) {
	for name, fail := range transientFailures {
		t.Run(name, func(t *testing.T) {
			f := newFake(t)
			calls := failThen(f, 2, fail)
			c, logs, _ := newClient(t, f, func(c *Config) { c.HTTPTimeout = 200 * time.Millisecond })
			p, err := c.ListFollowers(context.Background(), "")
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if p.Count != 2 || calls.Load() < 3 {
				t.Fatalf("page %+v after %d calls", p, calls.Load())
			}
			// net/http itself may resend a GET whose reused connection was
			// closed before any answer; Calls counts the client's attempts.
			want := int64(3)
			if name == "connection reset" {
				want = 2
			}
			if got := c.Calls()[pathUserGet]; got < want {
				t.Fatalf("Calls = %d, want ≥ %d", got, want)
			}
			if !strings.Contains(logs.String(), `"msg":"wechat retry"`) {
				t.Fatal("retries not logged")
			}
		})
	}
}

func TestRetriesExhausted(t *testing.T) {
	for name, fail := range transientFailures {
		t.Run(name, func(t *testing.T) {
			f := newFake(t)
			failThen(f, 1000, fail)
			c, _, _ := newClient(t, f, func(c *Config) { c.MaxAttempts = 3; c.HTTPTimeout = 100 * time.Millisecond })
			_, err := c.ListFollowers(context.Background(), "")
			var re *RetryError
			if !errors.As(err, &re) || re.Attempts != 3 || re.Path != pathUserGet {
				t.Fatalf("err = %v", err)
			}
			if Classify(err) != kind.Temporary || !strings.Contains(err.Error(), "after 3 attempt(s)") || !strings.Contains(err.Error(), "last error") {
				t.Fatalf("class %v text %q", Classify(err), err)
			}
			if got := c.Calls()[pathUserGet]; got != 3 {
				t.Fatalf("Calls = %d, want 3", got)
			}
			assertNoLeak(t, f, "error", errText(err))
		})
	}
}

func TestMaxElapsedBoundsRetries(t *testing.T) {
	f := newFake(t)
	failThen(f, 1000, transientFailures["system busy"])
	// The first backoff (≥ 0.5 s) would end after MaxElapsed: give up at once.
	c, _, _ := newClient(t, f, func(c *Config) {
		c.MaxElapsed = 100 * time.Millisecond
		c.InitialBackoff, c.MaxBackoff = time.Second, time.Second
	})
	_, err := c.ListFollowers(context.Background(), "")
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 1 || Classify(err) != kind.Temporary {
		t.Fatalf("err = %v", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != -1 {
		t.Fatalf("last cause lost: %v", err)
	}
}

func TestDailyQuotaNotRetried(t *testing.T) {
	f := newFake(t)
	failThen(f, 1000, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 45009, "errmsg": "reach max api daily quota limit rid: 6600aa-0007"})
	})
	c, _, _ := newClient(t, f, nil)
	_, err := c.ListFollowers(context.Background(), "")
	if !IsQuota(err) || Classify(err) != kind.Temporary || f.hit(pathUserGet) != 1 {
		t.Fatalf("err = %v, calls %d", err, f.hit(pathUserGet))
	}
	if !strings.Contains(err.Error(), "tomorrow") || !strings.Contains(err.Error(), "6600aa-0007") {
		t.Fatalf("unhelpful: %v", err)
	}
}

func TestContextCancelStopsImmediately(t *testing.T) {
	t.Run("during backoff", func(t *testing.T) {
		f := newFake(t)
		seen := make(chan struct{}, 100)
		failThen(f, 1000, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"errcode": -1, "errmsg": "system error"})
			seen <- struct{}{}
		})
		// A backoff of a minute: only cancellation can end the call.
		c, _, _ := newClient(t, f, func(c *Config) {
			c.InitialBackoff, c.MaxBackoff, c.MaxElapsed = time.Minute, time.Minute, time.Hour
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { _, err := c.ListFollowers(ctx, ""); done <- err }()
		<-seen
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) || Classify(err) != kind.Temporary || !strings.Contains(err.Error(), "last error") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("during request", func(t *testing.T) {
		f := newFake(t)
		seen := make(chan struct{}, 1)
		f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
			seen <- struct{}{}
			hang(w, r)
		})
		c, _, _ := newClient(t, f, func(c *Config) { c.HTTPTimeout = time.Hour })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { _, err := c.ListFollowers(ctx, ""); done <- err }()
		<-seen
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) || Classify(err) != kind.Temporary {
			t.Fatalf("err = %v", err)
		}
		if f.hit(pathUserGet) != 1 {
			t.Fatal("retried after cancellation")
		}
		assertNoLeak(t, f, "error", errText(err))
	})
	t.Run("already cancelled", func(t *testing.T) {
		f := newFake(t)
		c, _, _ := newClient(t, f, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.ListFollowers(ctx, "")
		if !errors.Is(err, context.Canceled) || f.tokenHits() != 0 {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRateLimiterRespectsDeadline(t *testing.T) {
	f := newFake(t)
	f.handle(pathUserGet, okFollowers(f))
	// One request per 1000 s, burst 1: the token request takes the burst.
	c, _, _ := newClient(t, f, func(c *Config) { c.RateLimit = 0.001 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.ListFollowers(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) || Classify(err) != kind.Temporary {
		t.Fatalf("err = %v", err)
	}
	if f.hit(pathUserGet) != 0 {
		t.Fatal("rate limit not applied")
	}
}
