package push

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Mode is how a push is carried, as set in the account's server settings.
type Mode int

// Modes. A receiver accepts all of them at any time; a sender picks one.
const (
	ModePlaintext  Mode = iota + 1 // the message in the clear, signature only
	ModeCompatible                 // the message in the clear and encrypted, both signatures
	ModeSafe                       // the message only encrypted
)

// String returns "plaintext", "compatible" or "safe".
func (m Mode) String() string {
	switch m {
	case ModePlaintext:
		return "plaintext"
	case ModeCompatible:
		return "compatible"
	case ModeSafe:
		return "safe"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses "plaintext", "compatible" or "safe".
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModePlaintext, ModeCompatible, ModeSafe} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("push: unknown mode %q (want plaintext, compatible or safe)", s)
}

// Sender is what WeChat knows when it pushes: the account's settings and
// the parameters of one request.
type Sender struct {
	Mode  Mode
	Token string
	Key   *Key   // compatible and safe modes
	AppID string // compatible and safe modes: the tail of every plaintext
	// Random supplies the 16 random bytes of each encryption
	// (crypto/rand.Reader, or a seeded reader for reproducible pushes).
	Random io.Reader
}

// Seal signs (and in the encrypted modes encrypts) msg, a complete <xml>
// message such as [EncodeEvent] returns, for one request with the given
// timestamp and nonce. It returns the query to append to the push URL
// (signature, timestamp, nonce, and encrypt_type=aes and msg_signature in
// the encrypted modes; openid when not empty, as WeChat appends it) and
// the body.
func (s Sender) Seal(msg []byte, timestamp int64, nonce, openid string) (url.Values, []byte, error) {
	ts := strconv.FormatInt(timestamp, 10)
	q := url.Values{"signature": {Signature(s.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}
	if openid != "" {
		q.Set("openid", openid)
	}
	if s.Mode == ModePlaintext {
		return q, msg, nil
	}
	if s.Mode != ModeCompatible && s.Mode != ModeSafe {
		return nil, nil, fmt.Errorf("push: Seal: invalid mode %d", int(s.Mode))
	}
	if s.Key == nil || s.Random == nil {
		return nil, nil, fmt.Errorf("push: Seal: mode %s needs Key and Random", s.Mode)
	}
	enc, err := s.Key.Encrypt(s.Random, s.AppID, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("push: Seal: %w", err)
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", Signature(s.Token, ts, nonce, enc))
	if s.Mode == ModeCompatible {
		end := bytes.LastIndex(msg, []byte("</xml>"))
		if end < 0 {
			return nil, nil, fmt.Errorf("push: Seal: the message does not end with </xml>")
		}
		body := append(append(append([]byte{}, msg[:end]...), cdataElement("Encrypt", enc)...), msg[end:]...)
		return q, body, nil
	}
	raw, err := parseXML(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("push: Seal: %w", err)
	}
	body := "<xml>" + cdataElement("ToUserName", raw.get(fTo)) + cdataElement("Encrypt", enc) + "</xml>"
	return q, []byte(body), nil
}

// EncodeEvent renders a follow event the way WeChat writes it: ToUserName,
// FromUserName (m.OpenID), CreateTime, MsgType event, Event (m.Kind), and
// EventKey and Ticket when not empty (m.EventKey is written as is).
func EncodeEvent(m Message) []byte {
	var b strings.Builder
	b.WriteString("<xml>")
	b.WriteString(cdataElement("ToUserName", m.ToUserName))
	b.WriteString(cdataElement("FromUserName", m.OpenID))
	b.WriteString("<CreateTime>" + strconv.FormatInt(m.CreateTime, 10) + "</CreateTime>")
	b.WriteString(cdataElement("MsgType", "event"))
	b.WriteString(cdataElement("Event", m.Kind.String()))
	if m.EventKey != "" {
		b.WriteString(cdataElement("EventKey", m.EventKey))
	}
	if m.Ticket != "" {
		b.WriteString(cdataElement("Ticket", m.Ticket))
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// cdataElement writes <name><![CDATA[text]]></name>, splitting any "]]>"
// in text across two sections.
func cdataElement(name, text string) string {
	text = strings.ReplaceAll(text, "]]>", "]]]]><![CDATA[>")
	return "<" + name + "><![CDATA[" + text + "]]></" + name + ">"
}
