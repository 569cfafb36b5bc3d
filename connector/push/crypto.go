package push

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
)

// EncodingAESKeyLength is the length of an EncodingAESKey (43 characters of
// [A-Za-z0-9], base64 of the 32-byte AES key without its "=").
const EncodingAESKeyLength = 43

const (
	padBlock  = 32 // PKCS#7 block of WeChat's scheme (not the AES block of 16)
	randomLen = 16 // random prefix of every plaintext
	lenField  = 4  // big-endian length of the message that follows
	// MaxAppIDLength bounds the appid tail; real appids are 18 characters.
	MaxAppIDLength = 64
)

// Key is a parsed EncodingAESKey: AES-256 with IV = the key's first 16
// bytes. It never prints its bytes (String and GoString redact them).
type Key struct {
	block cipher.Block
	iv    [aes.BlockSize]byte
}

// ParseKey parses an EncodingAESKey. Its errors never contain the key.
func ParseKey(encodingAESKey string) (*Key, error) {
	if len(encodingAESKey) != EncodingAESKeyLength {
		return nil, fmt.Errorf("push: EncodingAESKey must be %d characters, got %d", EncodingAESKeyLength, len(encodingAESKey))
	}
	for i := 0; i < len(encodingAESKey); i++ {
		if !isAlnum(encodingAESKey[i]) {
			return nil, fmt.Errorf("push: EncodingAESKey has a character outside [A-Za-z0-9] at position %d", i+1)
		}
	}
	// Not Strict: 43 characters carry 258 bits, and the platform does not
	// zero the 2 that fall off (the official sample key's last one is 'G').
	raw, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("push: EncodingAESKey does not decode to 32 bytes")
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("push: EncodingAESKey: AES: %w", err)
	}
	k := &Key{block: block}
	copy(k.iv[:], raw[:aes.BlockSize])
	return k, nil
}

// String redacts the key (value receiver: a copied Key prints no bytes either).
func (k Key) String() string { return "push.Key(redacted)" }

// GoString redacts the key.
func (k Key) GoString() string { return k.String() }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Encrypt seals msg for appID the way WeChat does: 16 bytes from random,
// the 4-byte big-endian length of msg, msg, appID; PKCS#7 to a multiple of
// 32; AES-256-CBC; standard base64. random is usually crypto/rand.Reader; a
// seeded reader makes the ciphertext reproducible.
func (k *Key) Encrypt(random io.Reader, appID string, msg []byte) (string, error) {
	if len(appID) > MaxAppIDLength {
		return "", fmt.Errorf("push: appid longer than %d bytes", MaxAppIDLength)
	}
	n := randomLen + lenField + len(msg) + len(appID)
	pad := padBlock - n%padBlock
	plain := make([]byte, n+pad)
	if _, err := io.ReadFull(random, plain[:randomLen]); err != nil {
		return "", fmt.Errorf("push: reading random bytes: %w", err)
	}
	binary.BigEndian.PutUint32(plain[randomLen:], uint32(len(msg)))
	copy(plain[randomLen+lenField:], msg)
	copy(plain[randomLen+lenField+len(msg):], appID)
	for i := n; i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(k.block, k.iv[:]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Decrypt opens an Encrypt value and returns the message it carries. It
// accepts exactly what Encrypt produces: strict base64 of whole 32-byte
// blocks (no whitespace), padding of 1..32 equal bytes, a length field that
// fits the buffer, and an appid tail equal to appID. Each failure is an
// *Error with its own Reason.
func (k *Key) Decrypt(appID, encrypted string) ([]byte, error) {
	for i := 0; i < len(encrypted); i++ {
		if c := encrypted[i]; !isAlnum(c) && c != '+' && c != '/' && c != '=' {
			return nil, reject(ReasonBadCiphertext, fmt.Sprintf("Encrypt has a byte outside the base64 alphabet at offset %d", i))
		}
	}
	buf, err := base64.StdEncoding.Strict().DecodeString(encrypted)
	if err != nil {
		return nil, reject(ReasonBadCiphertext, "Encrypt is not valid base64")
	}
	if len(buf) == 0 || len(buf)%padBlock != 0 {
		return nil, reject(ReasonBadCiphertext, fmt.Sprintf("ciphertext of %d bytes is not a positive multiple of %d", len(buf), padBlock))
	}
	cipher.NewCBCDecrypter(k.block, k.iv[:]).CryptBlocks(buf, buf)
	pad := int(buf[len(buf)-1])
	if pad < 1 || pad > padBlock {
		return nil, reject(ReasonBadPadding, fmt.Sprintf("padding length %d outside 1..%d", pad, padBlock))
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return nil, reject(ReasonBadPadding, "padding bytes are not all equal to its length")
		}
	}
	buf = buf[:len(buf)-pad]
	if len(buf) < randomLen+lenField {
		return nil, reject(ReasonBadLength, fmt.Sprintf("plaintext of %d bytes is shorter than its %d-byte header", len(buf), randomLen+lenField))
	}
	body := buf[randomLen+lenField:]
	msgLen := binary.BigEndian.Uint32(buf[randomLen:])
	if uint64(msgLen) > uint64(len(body)) {
		return nil, reject(ReasonBadLength, fmt.Sprintf("length field %d exceeds the %d bytes that follow it", msgLen, len(body)))
	}
	tail := body[msgLen:]
	if subtle.ConstantTimeCompare(tail, []byte(appID)) != 1 {
		return nil, reject(ReasonWrongAppID, fmt.Sprintf("the %d-byte appid tail is not the configured appid", len(tail)))
	}
	return body[:msgLen:msgLen], nil
}

// Signature is WeChat's signature over parts: the hex sha1 of the parts
// sorted and joined. signature = Signature(token, timestamp, nonce);
// msg_signature = Signature(token, timestamp, nonce, Encrypt).
func Signature(parts ...string) string {
	s := slices.Clone(parts)
	slices.Sort(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

// signatureMatches compares a received signature with the expected one in
// constant time (hex case ignored).
func signatureMatches(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}
