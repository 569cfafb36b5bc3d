package push

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The official WXBizMsgCrypt sample (../shared/wechat-api.md).
const (
	sampleToken     = "spamtest"
	sampleAESKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	sampleAppID     = "wx2c2769f8efd9abc2"
	sampleTimestamp = "1409735669"
	sampleNonce     = "1320562132"
	sampleMsgSig    = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
	sampleEncrypt   = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)

func TestSampleVectorDecrypts(t *testing.T) {
	if got := Signature(sampleToken, sampleTimestamp, sampleNonce, sampleEncrypt); got != sampleMsgSig {
		t.Fatalf("msg_signature %s, want %s", got, sampleMsgSig)
	}
	k, err := ParseKey(sampleAESKey)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := k.Decrypt(sampleAppID, sampleEncrypt)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	for _, want := range []string{"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>", "<MsgType><![CDATA[text]]></MsgType>"} {
		if !strings.Contains(string(plain), want) {
			t.Fatalf("plaintext lacks %s", want)
		}
	}
	if _, err := k.Decrypt("wx2c2769f8efd9abc3", sampleEncrypt); ReasonOf(err) != ReasonWrongAppID {
		t.Fatalf("another appid: %v", err)
	}
}

// The sample through the whole receiver: a safe-mode text message, so it is
// accepted as KindOther with its content (and sender) dropped.
func TestSampleVectorOpens(t *testing.T) {
	ts := time.Unix(1409735669, 0)
	v, err := NewVerifier(Config{Token: sampleToken, AppID: sampleAppID, AESKey: sampleAESKey, Now: func() time.Time { return ts }})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"timestamp": {sampleTimestamp}, "nonce": {sampleNonce}, "encrypt_type": {"aes"}, "msg_signature": {sampleMsgSig}}
	body := "<xml><ToUserName><![CDATA[toUser]]></ToUserName><Encrypt><![CDATA[" + sampleEncrypt + "]]></Encrypt></xml>"
	m, err := v.Open(q, []byte(body))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if m.Kind != KindOther || m.Mode != ModeSafe || m.MsgType != "text" || m.OpenID != "" || m.CreateTime <= 0 || m.ToUserName == "" {
		t.Fatalf("message %+v", m)
	}
	q.Set("msg_signature", strings.Replace(sampleMsgSig, "5", "6", 1))
	if _, err := v.Open(q, []byte(body)); ReasonOf(err) != ReasonBadSignature {
		t.Fatalf("altered msg_signature: %v", err)
	}
}
