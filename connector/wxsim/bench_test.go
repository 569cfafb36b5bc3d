package wxsim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// discardWriter is a ResponseWriter that keeps only the last body's size.
type discardWriter struct {
	h    http.Header
	n    int
	last []byte
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	w.last = append(w.last[:0], b[max(0, len(b)-60):]...) // the tail holds next_openid
	return len(b), nil
}

// BenchmarkUserGetPage serves full 10,000-openid pages of a 1,000,000
// follower account, walking it page after page (server side only).
func BenchmarkUserGetPage(b *testing.B) {
	h := start(b, func(o *Options) { o.Followers = 1_000_000; o.Quotas = nil })
	tok := h.token()
	w := &discardWriter{h: http.Header{}}
	next := ""
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, PathUserGet+"?"+url.Values{"access_token": {tok}, "next_openid": {next}}.Encode(), nil)
		w.n = 0
		h.srv.ServeHTTP(w, req)
		i := bytes.LastIndex(w.last, []byte(`"next_openid":"`))
		next = string(w.last[i+15 : len(w.last)-2])
		if w.n < 300_000 && next != "" {
			b.Fatalf("short page: %d bytes", w.n)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkWalk1M pages through 1,000,000 followers over real HTTP.
func BenchmarkWalk1M(b *testing.B) {
	h := start(b, func(o *Options) { o.Followers = 1_000_000; o.Quotas = nil })
	tok := h.token()
	for b.Loop() {
		all, _ := h.walk(tok, h.userGet, MaxPageSize)
		if len(all) != 1_000_000 {
			b.Fatalf("walked %d", len(all))
		}
	}
}

func BenchmarkOpenID(b *testing.B) {
	c := newCodec(1)
	buf := make([]byte, 0, OpenIDLength)
	var i uint64
	for b.Loop() {
		buf = c.appendOpenID(buf[:0], i)
		i++
	}
}

func BenchmarkBatchGet100(b *testing.B) {
	h := start(b, func(o *Options) { o.Quotas = nil })
	tok := h.token()
	body := batchOf(h.srv.FollowerOpenIDs()[:100]...)
	for b.Loop() {
		if r := h.post(PathBatchGet, tok, body); r.status != http.StatusOK {
			b.Fatal(r.status)
		}
	}
}
