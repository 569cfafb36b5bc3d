package push

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// InfoType values of a third-party platform's authorisation events.
const (
	// InfoVerifyTicket: WeChat's push of the component_verify_ticket,
	// every 10 minutes.
	InfoVerifyTicket = "component_verify_ticket"
	// InfoAuthorized, InfoUpdateAuthorized, InfoUnauthorized: an account
	// authorised the platform, changed, or withdrew its authorisation.
	InfoAuthorized       = "authorized"
	InfoUpdateAuthorized = "updateauthorized"
	InfoUnauthorized     = "unauthorized"
)

// ComponentEvent is one decoded push to a third-party platform's
// authorisation-event URL. Its Ticket is a secret: never log it.
type ComponentEvent struct {
	// AppID is the platform's component appid the event is for.
	AppID string
	// InfoType is what happened (InfoVerifyTicket, InfoAuthorized, ...).
	InfoType string
	// CreateTime is when WeChat wrote it, in Unix seconds.
	CreateTime int64
	// Ticket is the ComponentVerifyTicket (InfoVerifyTicket only).
	Ticket string
	// AuthorizerAppID is the account concerned (the authorisation events).
	AuthorizerAppID string
}

// String never shows the ticket.
func (e ComponentEvent) String() string {
	return fmt.Sprintf("push.ComponentEvent{AppID:%q InfoType:%q CreateTime:%d AuthorizerAppID:%q}", e.AppID, e.InfoType, e.CreateTime, e.AuthorizerAppID)
}

// OpenComponent checks and decodes one push to a third-party platform's
// authorisation-event URL. Those pushes are always encrypted (safe mode)
// with the platform's key, and their decrypted tail is the component
// appid: v must be configured with the platform's Token, AESKey and, as
// AppID, the component appid. The outer <AppId> and the inner one must be
// that appid too. Every rejection is an *Error.
func (v *Verifier) OpenComponent(q url.Values, body []byte) (ComponentEvent, error) {
	if int64(len(body)) > v.maxBody {
		return ComponentEvent{}, reject(ReasonTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d", len(body), v.maxBody))
	}
	p, err := v.signedParams(q)
	if err != nil {
		return ComponentEvent{}, err
	}
	if p.signature != "" && !signatureMatches(p.signature, Signature(v.token, p.timestamp, p.nonce)) {
		return ComponentEvent{}, reject(ReasonBadSignature, "signature does not match")
	}
	outer, err := parseXML(body)
	if err != nil {
		return ComponentEvent{}, err
	}
	inner, err := v.openEncrypted(p, &outer)
	if err != nil {
		return ComponentEvent{}, err
	}
	if outer.has&fAppID != 0 && outer.get(fAppID) != v.appID {
		return ComponentEvent{}, reject(ReasonWrongAppID, "the outer AppId is not the configured component appid")
	}
	return componentEvent(&inner, v.appID)
}

// componentEvent checks the fields of a decrypted authorisation event.
func componentEvent(r *rawFields, appID string) (ComponentEvent, error) {
	var e ComponentEvent
	var err error
	if r.has&fEncrypt != 0 {
		return e, reject(ReasonBadXML, "the decrypted message carries an Encrypt element")
	}
	if e.AppID, err = idField(r, fAppID, "AppId"); err != nil {
		return e, err
	}
	if e.AppID != appID {
		return e, reject(ReasonWrongAppID, "AppId is not the configured component appid")
	}
	if e.CreateTime, err = createTime(r); err != nil {
		return e, err
	}
	if e.InfoType, err = typeField(r, fInfoType, "InfoType"); err != nil {
		return e, err
	}
	switch e.InfoType {
	case InfoVerifyTicket:
		t := r.get(fVerifyTicket)
		if t == "" || len(t) > MaxTicketLength || !printableASCII(t) || strings.ContainsAny(t, " ") {
			return e, reject(ReasonBadMessage, "ComponentVerifyTicket is missing, too long or not printable ASCII")
		}
		e.Ticket = t
	case InfoAuthorized, InfoUpdateAuthorized, InfoUnauthorized:
		if e.AuthorizerAppID, err = idField(r, fAuthorizerAppID, "AuthorizerAppid"); err != nil {
			return e, err
		}
	}
	return e, nil
}

// EncodeVerifyTicket renders the component_verify_ticket push the way
// WeChat writes it, before encryption.
func EncodeVerifyTicket(componentAppID, ticket string, createTime int64) []byte {
	return []byte("<xml>" + cdataElement("AppId", componentAppID) +
		"<CreateTime>" + strconv.FormatInt(createTime, 10) + "</CreateTime>" +
		cdataElement("InfoType", InfoVerifyTicket) + cdataElement("ComponentVerifyTicket", ticket) + "</xml>")
}

// SealComponent encrypts msg (an authorisation event such as
// EncodeVerifyTicket returns) for a platform's authorisation-event URL:
// safe mode only, s.AppID being the component appid. It returns the query
// (timestamp, nonce, encrypt_type=aes, msg_signature, signature) and the
// body <xml><AppId/><Encrypt/></xml>.
func (s Sender) SealComponent(msg []byte, timestamp int64, nonce string) (url.Values, []byte, error) {
	if s.Key == nil || s.Random == nil {
		return nil, nil, fmt.Errorf("push: SealComponent needs Key and Random")
	}
	enc, err := s.Key.Encrypt(s.Random, s.AppID, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("push: SealComponent: %w", err)
	}
	ts := strconv.FormatInt(timestamp, 10)
	q := url.Values{"signature": {Signature(s.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce},
		"encrypt_type": {"aes"}, "msg_signature": {Signature(s.Token, ts, nonce, enc)}}
	body := "<xml>" + cdataElement("AppId", s.AppID) + cdataElement("Encrypt", enc) + "</xml>"
	return q, []byte(body), nil
}
