package push

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	componentAppID = "wxc0ffee0000000001"
	componentToken = "platformtoken"
	componentKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

func componentVerifier(t *testing.T, now time.Time) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{Token: componentToken, AppID: componentAppID, AESKey: componentKey, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestComponentVerifyTicketRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	key, _ := ParseKey(componentKey)
	s := Sender{Mode: ModeSafe, Token: componentToken, Key: key, AppID: componentAppID, Random: rand.Reader}
	q, body, err := s.SealComponent(EncodeVerifyTicket(componentAppID, "ticket@@@abc-DEF_123", now.Unix()), now.Unix(), "n0nce")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "ticket@@@") {
		t.Fatal("the ticket travels in the clear")
	}
	ev, err := componentVerifier(t, now).OpenComponent(q, body)
	if err != nil {
		t.Fatal(err)
	}
	want := ComponentEvent{AppID: componentAppID, InfoType: InfoVerifyTicket, CreateTime: now.Unix(), Ticket: "ticket@@@abc-DEF_123"}
	if ev != want {
		t.Fatalf("event = %+v, want %+v", ev, want)
	}
	if strings.Contains(ev.String(), "ticket@@@") {
		t.Error("String shows the ticket")
	}
}

func TestComponentPushRejections(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	key, _ := ParseKey(componentKey)
	seal := func(appid, msg string, ts int64) ([]byte, map[string][]string) {
		s := Sender{Mode: ModeSafe, Token: componentToken, Key: key, AppID: appid, Random: rand.Reader}
		q, body, err := s.SealComponent([]byte(msg), ts, "n")
		if err != nil {
			t.Fatal(err)
		}
		return body, q
	}
	good := string(EncodeVerifyTicket(componentAppID, "t1", now.Unix()))
	for name, tc := range map[string]struct {
		appid, msg string
		ts         int64
		tamper     func(q map[string][]string)
		reason     Reason
	}{
		"another platform's tail": {"wxotherplatform00001", good, now.Unix(), nil, ReasonWrongAppID},
		"stale":                   {componentAppID, good, now.Unix() - 3600, nil, ReasonStaleTimestamp},
		"bad msg_signature":       {componentAppID, good, now.Unix(), func(q map[string][]string) { q["msg_signature"] = []string{strings.Repeat("0", 40)} }, ReasonBadSignature},
		"no ticket":               {componentAppID, "<xml><AppId>" + componentAppID + "</AppId><CreateTime>1</CreateTime><InfoType>component_verify_ticket</InfoType></xml>", now.Unix(), nil, ReasonBadMessage},
		"inner appid differs":     {componentAppID, string(EncodeVerifyTicket("wxotherplatform00001", "t1", now.Unix())), now.Unix(), nil, ReasonWrongAppID},
	} {
		body, q := seal(tc.appid, tc.msg, tc.ts)
		if tc.tamper != nil {
			tc.tamper(q)
		}
		_, err := componentVerifier(t, now).OpenComponent(q, body)
		var pe *Error
		if !errors.As(err, &pe) || pe.Reason != tc.reason {
			t.Errorf("%s: err = %v, want reason %s", name, err, tc.reason)
		}
	}
}
