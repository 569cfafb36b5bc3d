package push

import (
	"errors"
	"net/http"
)

// Reason says why a push or a verification request was rejected. Its string
// form is short, stable and snake_case: fit for a metric label.
type Reason string

// Rejection reasons.
const (
	ReasonBadMethod      Reason = "bad_method"        // not GET (verification) or POST (push)
	ReasonBadQuery       Reason = "bad_query"         // a query parameter missing, repeated or malformed
	ReasonBadSignature   Reason = "bad_signature"     // signature or msg_signature does not match
	ReasonStaleTimestamp Reason = "stale_timestamp"   // the signed timestamp is outside the replay window
	ReasonTooLarge       Reason = "too_large"         // the body exceeds the size limit
	ReasonBadXML         Reason = "bad_xml"           // the body (or the decrypted message) is not the expected XML
	ReasonBadMessage     Reason = "bad_message"       // well-formed XML, but a required field is missing or malformed
	ReasonNoKey          Reason = "no_key"            // an encrypted push, but no EncodingAESKey is configured
	ReasonBadCiphertext  Reason = "bad_ciphertext"    // Encrypt is not base64 of whole AES blocks
	ReasonBadPadding     Reason = "bad_padding"       // PKCS#7 (block 32) padding is wrong
	ReasonBadLength      Reason = "bad_length"        // the decrypted length field does not fit the buffer
	ReasonWrongAppID     Reason = "wrong_appid"       // the decrypted appid tail is not the configured appid
	ReasonWrongAccount   Reason = "wrong_original_id" // ToUserName is not the configured original id (gh_...)
)

// Reasons returns every Reason, for pre-registering metric labels.
func Reasons() []Reason {
	return []Reason{ReasonBadMethod, ReasonBadQuery, ReasonBadSignature, ReasonStaleTimestamp,
		ReasonTooLarge, ReasonBadXML, ReasonBadMessage, ReasonNoKey, ReasonBadCiphertext,
		ReasonBadPadding, ReasonBadLength, ReasonWrongAppID, ReasonWrongAccount}
}

// Error is a rejected request. Its text names the reason and what was wrong,
// never a secret and never the body.
type Error struct {
	Reason Reason
	Detail string // what exactly was wrong, in words; no secret, no body content
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "push: rejected (" + string(e.Reason) + ")"
	}
	return "push: rejected (" + string(e.Reason) + "): " + e.Detail
}

// HTTPStatus is the answer a receiver should give: 405 for a wrong method,
// 413 for an oversize body, 403 for authentication failures (signature,
// timestamp, key, appid, account) and 400 for the rest. None of them is an
// answer WeChat takes as success.
func (e *Error) HTTPStatus() int {
	switch e.Reason {
	case ReasonBadMethod:
		return http.StatusMethodNotAllowed
	case ReasonTooLarge:
		return http.StatusRequestEntityTooLarge
	case ReasonBadSignature, ReasonStaleTimestamp, ReasonWrongAppID, ReasonWrongAccount:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

func reject(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }

// ReasonOf returns the Reason of a rejection anywhere in err's chain, and
// "" when err is nil or not a rejection.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
