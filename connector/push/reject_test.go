package push

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// rejectCase starts from a valid push in mode and breaks one thing.
type rejectCase struct {
	name   string
	mode   Mode
	config func(*Config)
	push   func(t *testing.T) (url.Values, []byte) // instead of sealing subscribeMsg
	edit   func(q url.Values, body []byte) []byte  // may return a new body; resign after unless noResign
	noSign bool
	want   Reason
	status int
}

func replaceBody(old, new string) func(url.Values, []byte) []byte {
	return func(_ url.Values, b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) }
}

func replaceAll(old, new string) func(url.Values, []byte) []byte {
	return func(_ url.Values, b []byte) []byte { return bytes.ReplaceAll(b, []byte(old), []byte(new)) }
}

// flipCiphertext changes the first character of the Encrypt value.
func flipCiphertext(_ url.Values, b []byte) []byte {
	i := bytes.Index(b, []byte("<Encrypt><![CDATA[")) + len("<Encrypt><![CDATA[")
	b = bytes.Clone(b)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return b
}

func setQuery(k, v string) func(url.Values, []byte) []byte {
	return func(q url.Values, b []byte) []byte { q.Set(k, v); return b }
}

func encryptedWith(layoutBuf []byte) func(t *testing.T) (url.Values, []byte) {
	return func(t *testing.T) (url.Values, []byte) {
		return safeBody(rawEncrypt(mustKey(t, testAESKey), layoutBuf))
	}
}

func rejectCases() []rejectCase {
	msg := string(EncodeEvent(subscribeMsg()))
	okLen := uint32(len(msg))
	stale := strconv.Itoa(testNow + 301)
	return []rejectCase{
		{name: "missing timestamp", mode: ModePlaintext, edit: func(q url.Values, b []byte) []byte { q.Del("timestamp"); return b }, want: ReasonBadQuery},
		{name: "missing nonce", mode: ModeSafe, edit: func(q url.Values, b []byte) []byte { q.Del("nonce"); return b }, want: ReasonBadQuery},
		{name: "repeated timestamp", mode: ModePlaintext, edit: func(q url.Values, b []byte) []byte { q.Add("timestamp", "1"); return b }, noSign: true, want: ReasonBadQuery},
		{name: "timestamp not digits", mode: ModePlaintext, edit: setQuery("timestamp", "17500e5"), want: ReasonBadQuery},
		{name: "unknown encrypt_type", mode: ModeSafe, edit: setQuery("encrypt_type", "des"), want: ReasonBadQuery},
		{name: "nonce with markup", mode: ModePlaintext, edit: setQuery("nonce", "<b>"), want: ReasonBadQuery},
		{name: "plaintext wrong signature", mode: ModePlaintext, edit: setQuery("signature", strings.Repeat("a", 40)), noSign: true, want: ReasonBadSignature, status: 403},
		{name: "plaintext no signature", mode: ModePlaintext, edit: func(q url.Values, b []byte) []byte { q.Del("signature"); return b }, noSign: true, want: ReasonBadSignature},
		{name: "plaintext body signed with another token", mode: ModePlaintext, config: func(c *Config) { c.Token = "anotherToken" }, want: ReasonBadSignature},
		{name: "safe no msg_signature", mode: ModeSafe, edit: func(q url.Values, b []byte) []byte { q.Del("msg_signature"); return b }, noSign: true, want: ReasonBadSignature},
		{name: "safe wrong msg_signature", mode: ModeSafe, edit: setQuery("msg_signature", strings.Repeat("0", 40)), noSign: true, want: ReasonBadSignature},
		{name: "safe ciphertext changed", mode: ModeSafe, edit: flipCiphertext, noSign: true, want: ReasonBadSignature},
		{name: "safe right msg_signature wrong signature", mode: ModeSafe, edit: setQuery("signature", strings.Repeat("b", 40)), noSign: true, want: ReasonBadSignature},
		{name: "ciphertext outside plaintext mode query", mode: ModeSafe, edit: func(q url.Values, b []byte) []byte { q.Del("encrypt_type"); q.Del("msg_signature"); return b }, noSign: true, want: ReasonBadSignature},
		{name: "stale timestamp plaintext", mode: ModePlaintext, edit: setQuery("timestamp", stale), want: ReasonStaleTimestamp, status: 403},
		{name: "stale timestamp safe", mode: ModeSafe, edit: setQuery("timestamp", strconv.Itoa(testNow-3600)), want: ReasonStaleTimestamp},
		{name: "timestamp far future", mode: ModeSafe, edit: setQuery("timestamp", "999999999999999999"), want: ReasonStaleTimestamp},
		{name: "too large", mode: ModePlaintext, config: func(c *Config) { c.MaxBody = 100 }, want: ReasonTooLarge, status: 413},
		{name: "not XML", mode: ModePlaintext, edit: func(url.Values, []byte) []byte { return []byte("{\"json\":1}") }, want: ReasonBadXML, status: 400},
		{name: "truncated XML", mode: ModePlaintext, edit: func(_ url.Values, b []byte) []byte { return b[:len(b)/2] }, want: ReasonBadXML},
		{name: "empty body", mode: ModePlaintext, edit: func(url.Values, []byte) []byte { return nil }, want: ReasonBadXML},
		{name: "root not xml", mode: ModePlaintext, edit: func(_ url.Values, b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "xml>", "doc>")) }, want: ReasonBadXML},
		{name: "two roots", mode: ModePlaintext, edit: func(_ url.Values, b []byte) []byte { return append(b, b...) }, want: ReasonBadXML},
		{name: "text after root", mode: ModePlaintext, edit: func(_ url.Values, b []byte) []byte { return append(b, "junk"...) }, want: ReasonBadXML},
		{name: "duplicate FromUserName", mode: ModePlaintext, edit: replaceBody("<CreateTime>", "<FromUserName>oOther</FromUserName><CreateTime>"), want: ReasonBadXML},
		{name: "element inside FromUserName", mode: ModePlaintext, edit: replaceBody("<![CDATA["+testOpenID, "<b/><![CDATA["+testOpenID), want: ReasonBadXML},
		{name: "DTD", mode: ModePlaintext, edit: func(_ url.Values, b []byte) []byte { return append([]byte(`<!DOCTYPE xml [<!ENTITY x "y">]>`), b...) }, want: ReasonBadXML},
		{name: "undefined entity", mode: ModePlaintext, edit: replaceBody("<CreateTime>", "<Content>&x;</Content><CreateTime>"), want: ReasonBadXML},
		{name: "safe body without Encrypt", mode: ModeSafe, edit: replaceBody("Encrypt>", "Encrypted>"), noSign: true, want: ReasonBadXML},
		{name: "missing CreateTime", mode: ModePlaintext, edit: replaceAll("CreateTime>", "CreatedAt>"), want: ReasonBadMessage, status: 400},
		{name: "negative CreateTime", mode: ModePlaintext, edit: replaceBody("<CreateTime>", "<CreateTime>-"), want: ReasonBadMessage},
		{name: "CreateTime with space", mode: ModePlaintext, edit: replaceBody("<CreateTime>", "<CreateTime> "), want: ReasonBadMessage},
		{name: "missing MsgType", mode: ModePlaintext, edit: replaceAll("MsgType>", "Type>"), want: ReasonBadMessage},
		{name: "missing Event", mode: ModePlaintext, edit: replaceAll("Event>", "Evt>"), want: ReasonBadMessage},
		{name: "missing FromUserName", mode: ModeSafe, push: encryptedWith(pad32(strings.Replace(msg, "FromUserName>", "From>", 2))), want: ReasonBadMessage},
		{name: "openid with a slash", mode: ModePlaintext, edit: replaceBody(testOpenID, "o/../etc"), want: ReasonBadMessage},
		{name: "EventKey with a control byte", mode: ModePlaintext, edit: replaceBody("qrscene_", "qr\tscene_"), want: ReasonBadMessage},
		{name: "Ticket too long", mode: ModePlaintext, edit: replaceBody(testTicket, strings.Repeat("T", 600)), want: ReasonBadMessage},
		{name: "no key configured", mode: ModeSafe, config: func(c *Config) { c.AESKey, c.PreviousAESKey = "", "" }, want: ReasonNoKey},
		{name: "ciphertext with whitespace", mode: ModeSafe, edit: replaceBody("<Encrypt><![CDATA[", "<Encrypt><![CDATA[ \n"), want: ReasonBadCiphertext},
		{name: "ciphertext not base64", mode: ModeSafe, edit: replaceBody("]]></Encrypt>", "A]]></Encrypt>"), want: ReasonBadCiphertext},
		{name: "ciphertext of 16 bytes", mode: ModeSafe, push: func(t *testing.T) (url.Values, []byte) { return safeBody("AAAAAAAAAAAAAAAAAAAAAA==") }, want: ReasonBadCiphertext},
		{name: "empty ciphertext", mode: ModeSafe, push: func(t *testing.T) (url.Values, []byte) { return safeBody("") }, want: ReasonBadCiphertext},
		{name: "padding 0", mode: ModeSafe, push: encryptedWith(layout(okLen, msg, testAppID, 32-(20+len(msg)+len(testAppID))%32, 0)), want: ReasonBadPadding},
		{name: "padding 33", mode: ModeSafe, push: encryptedWith(append(layout(okLen, msg, testAppID, 0, 0), bytes.Repeat([]byte{33}, 33+32-(20+len(msg)+len(testAppID)+33)%32)...)), want: ReasonBadPadding},
		{name: "padding bytes unequal", mode: ModeSafe, push: encryptedWith(unequalPad(layout(okLen, msg, testAppID, 0, 0))), want: ReasonBadPadding},
		{name: "length field beyond buffer", mode: ModeSafe, push: encryptedWith(pkcs7(layout(okLen+uint32(len(testAppID))+1, msg, testAppID, 0, 0))), want: ReasonBadLength},
		{name: "length field 2^32-1", mode: ModeSafe, push: encryptedWith(pkcs7(layout(^uint32(0), msg, testAppID, 0, 0))), want: ReasonBadLength},
		{name: "plaintext shorter than header", mode: ModeSafe, push: encryptedWith(bytes.Repeat([]byte{13}, 32)), want: ReasonBadLength},
		{name: "appid tail missing", mode: ModeSafe, push: encryptedWith(pkcs7(layout(okLen, msg, "", 0, 0))), want: ReasonWrongAppID, status: 403},
		{name: "appid tail of another account", mode: ModeSafe, push: encryptedWith(pkcs7(layout(okLen, msg, "wx0000000000000000", 0, 0))), want: ReasonWrongAppID},
		{name: "length field short: appid tail holds message bytes", mode: ModeSafe, push: encryptedWith(pkcs7(layout(okLen-1, msg, testAppID, 0, 0))), want: ReasonWrongAppID},
		{name: "wrong original id", mode: ModeSafe, config: func(c *Config) { c.OriginalID = "gh_ffffffffffff" }, want: ReasonWrongAccount, status: 403},
		{name: "compatible outer ToUserName differs", mode: ModeCompatible, edit: replaceBody(testOrigID, "gh_ffffffffffff"), want: ReasonWrongAccount},
	}
}

func pkcs7(b []byte) []byte {
	n := 32 - len(b)%32
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

func unequalPad(b []byte) []byte {
	b = pkcs7(b)
	if b[len(b)-1] < 2 {
		b = append(b, bytes.Repeat([]byte{32}, 32)...) // make room for an unequal pair
	}
	b[len(b)-2] ^= 0x40
	return b
}

// pad32 is a valid plaintext layout around a chosen message.
func pad32(msg string) []byte { return pkcs7(layout(uint32(len(msg)), msg, testAppID, 0, 0)) }

func TestEveryRejection(t *testing.T) {
	seen := map[Reason]bool{}
	for _, c := range rejectCases() {
		var q url.Values
		var body []byte
		if c.push != nil {
			q, body = c.push(t)
		} else {
			q, body = seal(t, testSender(t, c.mode), EncodeEvent(subscribeMsg()))
		}
		if c.edit != nil {
			body = c.edit(q, body)
			if !c.noSign {
				resign(q, body)
			}
		}
		v := newTestVerifier(t, c.config)
		m, err := v.Open(q, body)
		if ReasonOf(err) != c.want {
			t.Errorf("%s: got %+v, %v; want %s", c.name, m, err, c.want)
			continue
		}
		if m != (Message{}) {
			t.Errorf("%s: a rejected push returned %+v", c.name, m)
		}
		if c.status != 0 && err.(*Error).HTTPStatus() != c.status {
			t.Errorf("%s: status %d, want %d", c.name, err.(*Error).HTTPStatus(), c.status)
		}
		if leaked := secretsIn(t, err.Error()); len(leaked) > 0 || strings.Contains(err.Error(), testOpenID) {
			t.Errorf("%s: %q leaks %v or the openid", c.name, err, leaked)
		}
		seen[c.want] = true
	}
	seen[ReasonBadMethod] = true // TestReadRequest
	for _, r := range Reasons() {
		if !seen[r] {
			t.Errorf("no case for reason %s", r)
		}
	}
}
