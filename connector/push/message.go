package push

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is what a push is, as far as follows are concerned.
type Kind int

// Push kinds. Every push type that is not a follow event is KindOther.
const (
	KindOther       Kind = iota // anything else: a user's message, a menu click, a location report, ...
	KindSubscribe               // Event subscribe: a new follower (possibly through a QR code)
	KindUnsubscribe             // Event unsubscribe: a follower left
	KindScan                    // Event SCAN: a follower scanned a parameterised QR code
)

// String returns the Event value WeChat sends for the kind ("subscribe",
// "unsubscribe", "SCAN"), or "other".
func (k Kind) String() string {
	switch k {
	case KindSubscribe:
		return "subscribe"
	case KindUnsubscribe:
		return "unsubscribe"
	case KindScan:
		return "SCAN"
	}
	return "other"
}

// QRScenePrefix starts the EventKey of a subscribe through a parameterised
// QR code.
const QRScenePrefix = "qrscene_"

// Limits on the fields a Message keeps.
const (
	MaxIDLength       = 64  // ToUserName, FromUserName (openids are 28)
	MaxTypeLength     = 64  // MsgType, Event
	MaxEventKeyLength = 512 // EventKey (scene strings are at most 64)
	MaxTicketLength   = 512 // Ticket
)

// Message is one decoded push. For follow events (Kind ≠ KindOther) every
// field is set from the message WeChat signed (the decrypted one in the
// encrypted modes). For KindOther only ToUserName, CreateTime, MsgType and
// Event are kept: the rest may be a user's message and is dropped unread.
type Message struct {
	Kind       Kind
	Mode       Mode   // how it arrived (set by Verifier.Open)
	ToUserName string // the account's original id, gh_...
	OpenID     string // FromUserName: the follower (empty for KindOther)
	CreateTime int64  // Unix seconds, as WeChat wrote it; retries repeat it
	MsgType    string // "event" for events, "text", "image", ... otherwise
	Event      string // Kind.String() for follow events, WeChat's name for other events, "" for messages
	// Scene is the QR code's scene: EventKey without "qrscene_" for a
	// subscribe (empty when EventKey does not start with it), EventKey as
	// sent for SCAN, empty for unsubscribe.
	Scene string
	// EventKey is the EventKey element exactly as sent (follow events only).
	EventKey string
	Ticket   string // the QR code's ticket (follow events only)
}

// EventID is the identity a push keeps across WeChat's retries: the
// deduplication key of follow events. See [Message.ID].
type EventID struct {
	OpenID     string
	CreateTime int64
	Event      string
	EventKey   string
}

// ID returns the message's identity: FromUserName, CreateTime, Event and
// the raw EventKey. WeChat's documented key is FromUserName + CreateTime;
// Event is added because one person can subscribe and unsubscribe within
// the same second (two real changes), and EventKey because two SCANs of
// different QR codes in one second are two real conversions. A retry
// repeats the whole message, so the extra fields never split a retry from
// its original. The account is not part of it: a receiver serves one
// account, and openids are per account.
func (m Message) ID() EventID {
	return EventID{OpenID: m.OpenID, CreateTime: m.CreateTime, Event: m.Event, EventKey: m.EventKey}
}

// String renders the identity for logs and map keys: openid/createtime/event/quoted key.
func (id EventID) String() string {
	return id.OpenID + "/" + strconv.FormatInt(id.CreateTime, 10) + "/" + id.Event + "/" + strconv.Quote(id.EventKey)
}

// Field bits of rawFields.has.
const (
	fTo = 1 << iota
	fFrom
	fCreateTime
	fMsgType
	fEvent
	fEventKey
	fTicket
	fEncrypt
	// The elements of a third-party platform's authorisation events.
	fAppID
	fInfoType
	fVerifyTicket
	fAuthorizerAppID
)

var fieldNames = [...]string{"ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "EventKey", "Ticket", "Encrypt",
	"AppId", "InfoType", "ComponentVerifyTicket", "AuthorizerAppid"}

// rawFields holds the text of the elements a push may carry that this
// package reads; every other element is skipped unread.
type rawFields struct {
	val [len(fieldNames)]string
	has int
}

func (r *rawFields) get(bit int) string {
	for i := range fieldNames {
		if bit == 1<<i {
			return r.val[i]
		}
	}
	return ""
}

func fieldBit(name string) (int, bool) {
	for i, n := range fieldNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// parseXML reads a push body: one <xml> root whose children are simple
// text elements. Known elements may appear once and hold text only;
// unknown ones are skipped; nothing but whitespace, comments and
// processing instructions may surround the root. DTDs are refused.
func parseXML(b []byte) (rawFields, error) {
	var r rawFields
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	root := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if !root {
				return r, reject(ReasonBadXML, "no <xml> element")
			}
			return r, nil
		}
		if err != nil {
			return r, reject(ReasonBadXML, xmlErrText(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root || t.Name.Local != "xml" || t.Name.Space != "" {
				return r, reject(ReasonBadXML, "the document is not a single <xml> element")
			}
			root = true
			if err := parseChildren(d, &r); err != nil {
				return r, err
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return r, reject(ReasonBadXML, "text outside the <xml> element")
			}
		case xml.Directive:
			return r, reject(ReasonBadXML, "DTDs and directives are not accepted")
		}
	}
}

func parseChildren(d *xml.Decoder, r *rawFields) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return reject(ReasonBadXML, xmlErrText(err))
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.Directive:
			return reject(ReasonBadXML, "DTDs and directives are not accepted")
		case xml.StartElement:
			i, known := fieldBit(t.Name.Local)
			if !known || t.Name.Space != "" {
				if err := d.Skip(); err != nil {
					return reject(ReasonBadXML, xmlErrText(err))
				}
				continue
			}
			if r.has&(1<<i) != 0 {
				return reject(ReasonBadXML, "element "+fieldNames[i]+" appears twice")
			}
			text, err := elementText(d, fieldNames[i])
			if err != nil {
				return err
			}
			r.val[i], r.has = text, r.has|1<<i
		}
	}
}

// elementText reads the text of a known element up to its end tag.
func elementText(d *xml.Decoder, name string) (string, error) {
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", reject(ReasonBadXML, xmlErrText(err))
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.EndElement:
			return sb.String(), nil
		case xml.StartElement:
			return "", reject(ReasonBadXML, "element "+name+" holds an element")
		case xml.Directive:
			return "", reject(ReasonBadXML, "DTDs and directives are not accepted")
		}
	}
}

// xmlErrText describes a decoding error without quoting the document.
func xmlErrText(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("XML syntax error on line %d", se.Line)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "the XML ends early"
	}
	return "XML could not be decoded"
}

// buildMessage checks the fields of a decoded (or decrypted) message and
// keeps what a Message may hold.
func buildMessage(r *rawFields) (Message, error) {
	var m Message
	if r.has&fEncrypt != 0 {
		return m, reject(ReasonBadXML, "the decrypted message carries an Encrypt element")
	}
	var err error
	if m.ToUserName, err = idField(r, fTo, "ToUserName"); err != nil {
		return m, err
	}
	if m.CreateTime, err = createTime(r); err != nil {
		return m, err
	}
	if m.MsgType, err = typeField(r, fMsgType, "MsgType"); err != nil {
		return m, err
	}
	if m.MsgType != "event" {
		return m, nil
	}
	if m.Event, err = typeField(r, fEvent, "Event"); err != nil {
		return m, err
	}
	switch {
	case strings.EqualFold(m.Event, "subscribe"):
		m.Kind = KindSubscribe
	case strings.EqualFold(m.Event, "unsubscribe"):
		m.Kind = KindUnsubscribe
	case strings.EqualFold(m.Event, "SCAN"):
		m.Kind = KindScan
	default:
		return m, nil
	}
	m.Event = m.Kind.String()
	return followFields(r, m)
}

// followFields fills the fields only follow events keep.
func followFields(r *rawFields, m Message) (Message, error) {
	var err error
	if m.OpenID, err = idField(r, fFrom, "FromUserName"); err != nil {
		return m, err
	}
	for i := 0; i < len(m.OpenID); i++ {
		if c := m.OpenID[i]; !isAlnum(c) && c != '-' && c != '_' {
			return m, reject(ReasonBadMessage, "FromUserName is not an openid")
		}
	}
	m.EventKey, m.Ticket = r.get(fEventKey), r.get(fTicket)
	if len(m.EventKey) > MaxEventKeyLength || !utf8.ValidString(m.EventKey) || hasControl(m.EventKey) {
		return m, reject(ReasonBadMessage, "EventKey is too long or not printable UTF-8")
	}
	if len(m.Ticket) > MaxTicketLength || !printableASCII(m.Ticket) {
		return m, reject(ReasonBadMessage, "Ticket is too long or not printable ASCII")
	}
	switch m.Kind {
	case KindSubscribe:
		if s, ok := strings.CutPrefix(m.EventKey, QRScenePrefix); ok {
			m.Scene = s
		}
	case KindScan:
		m.Scene = m.EventKey
	}
	return m, nil
}

func idField(r *rawFields, bit int, name string) (string, error) {
	v := r.get(bit)
	if r.has&bit == 0 || v == "" {
		return "", reject(ReasonBadMessage, name+" is missing")
	}
	if len(v) > MaxIDLength || !printableASCII(v) {
		return "", reject(ReasonBadMessage, name+" is too long or not printable ASCII")
	}
	return v, nil
}

// typeField reads MsgType or Event: 1..MaxTypeLength of [A-Za-z0-9_].
func typeField(r *rawFields, bit int, name string) (string, error) {
	v := r.get(bit)
	if r.has&bit == 0 || v == "" {
		return "", reject(ReasonBadMessage, name+" is missing")
	}
	if len(v) > MaxTypeLength {
		return "", reject(ReasonBadMessage, name+" is too long")
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isAlnum(c) && c != '_' {
			return "", reject(ReasonBadMessage, name+" is not a type name")
		}
	}
	return v, nil
}

func createTime(r *rawFields) (int64, error) {
	v := r.get(fCreateTime)
	if r.has&fCreateTime == 0 || v == "" {
		return 0, reject(ReasonBadMessage, "CreateTime is missing")
	}
	n, ok := parseDigits(v)
	if !ok || n <= 0 {
		return 0, reject(ReasonBadMessage, "CreateTime is not a positive integer of seconds")
	}
	return n, nil
}

// parseDigits parses 1..18 ASCII digits (no sign, no space) as int64.
func parseDigits(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
