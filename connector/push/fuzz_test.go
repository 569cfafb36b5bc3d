package push

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzOpenPlaintext feeds arbitrary bodies, correctly signed, to Open: it
// must never panic, reject only with an *Error, and keep nothing but type
// names of other pushes.
func FuzzOpenPlaintext(f *testing.F) {
	f.Add(EncodeEvent(subscribeMsg()))
	f.Add([]byte(`<xml><ToUserName>a</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>`))
	f.Add([]byte(`<?xml version="1.0"?><xml><Encrypt>AAAA</Encrypt></xml>`))
	f.Add([]byte(`<xml><a><b><c/></b></a><FromUserName><![CDATA[x]]></FromUserName></xml>`))
	v := newTestVerifier(f, func(c *Config) { c.OriginalID = "" })
	ts := strconv.Itoa(testNow)
	f.Fuzz(func(t *testing.T, body []byte) {
		q := url.Values{"timestamp": {ts}, "nonce": {testNonce}, "signature": {Signature(testToken, ts, testNonce)}}
		m, err := v.Open(q, body)
		checkOutcome(t, m, err)
	})
}

// FuzzDecrypt feeds arbitrary Encrypt values to Decrypt.
func FuzzDecrypt(f *testing.F) {
	k := mustKey(f, testAESKey)
	good, _ := k.Encrypt(newSeeded(1), testAppID, EncodeEvent(subscribeMsg()))
	f.Add(good)
	f.Add(sampleEncrypt)
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Fuzz(func(t *testing.T, enc string) {
		msg, err := k.Decrypt(testAppID, enc)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || msg != nil {
				t.Fatalf("untyped error or data with error: %v", err)
			}
			return
		}
		if again, err := k.Decrypt(testAppID, enc); err != nil || string(again) != string(msg) {
			t.Fatal("Decrypt is not deterministic")
		}
	})
}

// FuzzDecryptLayout encrypts arbitrary plaintext layouts (any padding,
// length field and tail) and opens them as a safe-mode push: every layout
// Encrypt would not produce must be refused with a typed reason, and one
// it would produce must give back its message.
func FuzzDecryptLayout(f *testing.F) {
	msg := string(EncodeEvent(subscribeMsg()))
	f.Add(pkcs7(layout(uint32(len(msg)), msg, testAppID, 0, 0)))
	f.Add(pkcs7(layout(uint32(len(msg)+5), msg, testAppID, 0, 0)))
	f.Add(layout(3, "abc", testAppID, 32-(23+len(testAppID))%32, 0))
	k := mustKey(f, testAESKey)
	v := newTestVerifier(f, func(c *Config) { c.OriginalID = "" })
	f.Fuzz(func(t *testing.T, plain []byte) {
		if len(plain) == 0 || len(plain)%32 != 0 {
			plain = append(plain, make([]byte, 32-len(plain)%32)...)
		}
		enc := rawEncrypt(k, plain)
		out, err := k.Decrypt(testAppID, enc)
		if err == nil && !strings.HasSuffix(string(plain[:len(plain)-int(plain[len(plain)-1])]), string(out)+testAppID) {
			t.Fatalf("Decrypt returned bytes that are not the message before the appid")
		}
		q, body := safeBody(enc)
		m, err := v.Open(q, body)
		checkOutcome(t, m, err)
	})
}

func checkOutcome(t *testing.T, m Message, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || m != (Message{}) || e.HTTPStatus() < 400 || e.HTTPStatus() > 499 {
			t.Fatalf("bad rejection: %+v %v", m, err)
		}
		return
	}
	if m.CreateTime <= 0 || m.MsgType == "" || m.ToUserName == "" {
		t.Fatalf("accepted an incomplete message %+v", m)
	}
	if m.Kind == KindOther && (m.OpenID != "" || m.EventKey != "" || m.Ticket != "" || m.Scene != "") {
		t.Fatalf("other push kept content %+v", m)
	}
	if m.Kind != KindOther && (m.OpenID == "" || m.Event != m.Kind.String()) {
		t.Fatalf("follow event without openid or canonical event %+v", m)
	}
}
