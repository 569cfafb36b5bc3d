package push

import (
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testToken    = "Tok3nOfTheAccount"
	testAESKey   = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
	testPrevKey  = "P0y8aZ1mXq2W3e4R5t6Y7u8I9o0PaSdFgHjKlZxCvBn"
	testAppID    = "wx1234567890abcdef"
	testOrigID   = "gh_0123456789ab"
	testOpenID   = "oAbCdE1234567890abcdefghijkl"
	testNow      = 1750000000
	testNonce    = "98231746"
	testScene    = "campaign-7"
	testTicket   = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw=="
	testCreateAt = testNow - 2
)

// seededReader is a deterministic source of "random" bytes.
type seededReader struct{ r *rand.Rand }

func newSeeded(seed uint64) *seededReader {
	return &seededReader{rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

func (s *seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

func mustKey(t testing.TB, s string) *Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fixedNow() time.Time { return time.Unix(testNow, 0) }

func testConfig() Config {
	return Config{Token: testToken, AppID: testAppID, AESKey: testAESKey, PreviousAESKey: testPrevKey,
		OriginalID: testOrigID, Now: fixedNow}
}

func newTestVerifier(t testing.TB, edit func(*Config)) *Verifier {
	t.Helper()
	c := testConfig()
	if edit != nil {
		edit(&c)
	}
	v, err := NewVerifier(c)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func testSender(t testing.TB, mode Mode) Sender {
	return Sender{Mode: mode, Token: testToken, Key: mustKey(t, testAESKey), AppID: testAppID, Random: newSeeded(7)}
}

func subscribeMsg() Message {
	return Message{Kind: KindSubscribe, ToUserName: testOrigID, OpenID: testOpenID, CreateTime: testCreateAt,
		EventKey: QRScenePrefix + testScene, Ticket: testTicket}
}

func seal(t testing.TB, s Sender, msg []byte) (url.Values, []byte) {
	t.Helper()
	q, body, err := s.Seal(msg, testNow, testNonce, "oQueryOpenIDIsNotTrusted0000")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return q, body
}

// resign recomputes both signatures after a test changed the query or body.
func resign(q url.Values, body []byte) {
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	q.Set("signature", Signature(testToken, ts, nonce))
	if q.Has("msg_signature") {
		raw, err := parseXML(body)
		enc := raw.get(fEncrypt)
		if err != nil {
			enc = between(string(body), "<Encrypt><![CDATA[", "]]></Encrypt>")
		}
		q.Set("msg_signature", Signature(testToken, ts, nonce, enc))
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

// rawEncrypt encrypts buf (a multiple of 32 bytes) with no padding of its
// own, so tests can hand Decrypt any plaintext layout.
func rawEncrypt(k *Key, buf []byte) string {
	out := make([]byte, len(buf))
	cipher.NewCBCEncrypter(k.block, k.iv[:]).CryptBlocks(out, buf)
	return base64.StdEncoding.EncodeToString(out)
}

// layout builds 16 random bytes + length field + msg + appid, padded with
// pad bytes of value padVal (pad may be 0).
func layout(lenField uint32, msg, appid string, pad int, padVal byte) []byte {
	b := make([]byte, 16, 64)
	b = append(b, byte(lenField>>24), byte(lenField>>16), byte(lenField>>8), byte(lenField))
	b = append(b, msg...)
	b = append(b, appid...)
	for range pad {
		b = append(b, padVal)
	}
	return b
}

// safeBody wraps an Encrypt value in a safe-mode body and signs a query for it.
func safeBody(enc string) (url.Values, []byte) {
	body := []byte("<xml><ToUserName><![CDATA[" + testOrigID + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	ts := strconv.Itoa(testNow)
	q := url.Values{"timestamp": {ts}, "nonce": {testNonce}, "encrypt_type": {"aes"}, "msg_signature": {"x"}}
	resign(q, body)
	return q, body
}

// secretsIn reports which secret (by name) text contains, in any of the forms it could leak in.
func secretsIn(t testing.TB, text string) []string {
	t.Helper()
	var found []string
	forms := map[string]string{"token": testToken, "aes key": testAESKey, "previous aes key": testPrevKey}
	for _, k := range []string{testAESKey, testPrevKey} {
		raw, _ := base64.StdEncoding.DecodeString(k + "=")
		forms["raw key "+k[:4]] = string(raw)
		forms["hex key "+k[:4]] = hex.EncodeToString(raw)
		forms["byte list "+k[:4]] = strings.Trim(fmt.Sprint(raw[:16]), "[]")
	}
	for name, v := range forms {
		if strings.Contains(text, v) {
			found = append(found, name)
		}
	}
	return found
}
