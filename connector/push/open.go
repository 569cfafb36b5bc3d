package push

import (
	"fmt"
	"net/url"
)

// Open checks and decodes one push (query and body of the POST) in
// whichever mode it arrives:
//
//   - plaintext (encrypt_type absent or raw, no msg_signature, no
//     <Encrypt>): signature over token, timestamp, nonce must match, and
//     the body is the message;
//   - compatible and safe (encrypt_type=aes, or msg_signature, or an
//     <Encrypt> element): msg_signature over token, timestamp, nonce and
//     Encrypt must match (and signature too when sent); Encrypt is opened
//     with AESKey, then PreviousAESKey; the message is the decrypted one,
//     the plaintext copy of compatible mode is never believed.
//
// In every mode the timestamp must be inside the window, the body within
// MaxBody, ToUserName (outer and inner) equal to OriginalID when set. Every
// rejection is an *Error; a Message is returned only when all checks pass.
func (v *Verifier) Open(q url.Values, body []byte) (Message, error) {
	if int64(len(body)) > v.maxBody {
		return Message{}, reject(ReasonTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d", len(body), v.maxBody))
	}
	p, err := v.signedParams(q)
	if err != nil {
		return Message{}, err
	}
	if p.signature != "" && !signatureMatches(p.signature, Signature(v.token, p.timestamp, p.nonce)) {
		return Message{}, reject(ReasonBadSignature, "signature does not match")
	}
	outer, err := parseXML(body)
	if err != nil {
		return Message{}, err
	}
	encrypted := p.encryptType == "aes" || p.msgSignature != "" || outer.has&fEncrypt != 0
	if !encrypted {
		if p.signature == "" {
			return Message{}, reject(ReasonBadSignature, "signature is missing")
		}
		if err := v.checkTime(p.ts); err != nil {
			return Message{}, err
		}
		return v.finish(&outer, nil, ModePlaintext)
	}
	inner, err := v.openEncrypted(p, &outer)
	if err != nil {
		return Message{}, err
	}
	mode := ModeSafe
	if outer.has&fMsgType != 0 {
		mode = ModeCompatible
	}
	return v.finish(&inner, &outer, mode)
}

// openEncrypted authenticates and decrypts the Encrypt element of outer.
func (v *Verifier) openEncrypted(p signed, outer *rawFields) (rawFields, error) {
	if outer.has&fEncrypt == 0 {
		return rawFields{}, reject(ReasonBadXML, "an encrypted push without an Encrypt element")
	}
	enc := outer.get(fEncrypt)
	if p.msgSignature == "" {
		return rawFields{}, reject(ReasonBadSignature, "msg_signature is missing")
	}
	if !signatureMatches(p.msgSignature, Signature(v.token, p.timestamp, p.nonce, enc)) {
		return rawFields{}, reject(ReasonBadSignature, "msg_signature does not match")
	}
	if err := v.checkTime(p.ts); err != nil {
		return rawFields{}, err
	}
	if len(v.keys) == 0 {
		return rawFields{}, reject(ReasonNoKey, "an encrypted push, but no EncodingAESKey is configured")
	}
	var first error
	for _, k := range v.keys {
		plain, err := k.Decrypt(v.appID, enc)
		if err == nil {
			return parseXML(plain)
		}
		if first == nil {
			first = err
		}
	}
	return rawFields{}, first
}

// finish builds the message and checks the account it was pushed to.
func (v *Verifier) finish(msg, outer *rawFields, mode Mode) (Message, error) {
	m, err := buildMessage(msg)
	if err != nil {
		return Message{}, err
	}
	m.Mode = mode
	if v.originalID == "" {
		return m, nil
	}
	if m.ToUserName != v.originalID || (outer != nil && outer.has&fTo != 0 && outer.get(fTo) != v.originalID) {
		return Message{}, reject(ReasonWrongAccount, "ToUserName is not the configured original id")
	}
	return m, nil
}
