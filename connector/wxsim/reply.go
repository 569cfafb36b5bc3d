package wxsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// jsonContentType is what the live API sends with JSON answers.
const jsonContentType = "application/json; encoding=utf-8"

// reply is an answer ready to be written.
type reply struct {
	status  int
	ctype   string
	body    []byte
	errcode int
	buf     *[]byte // pooled buffer holding body, returned after writing
}

func (s *Server) write(w http.ResponseWriter, rp reply) {
	h := w.Header()
	h.Set("Content-Type", rp.ctype)
	h.Set("Content-Length", strconv.Itoa(len(rp.body)))
	w.WriteHeader(rp.status)
	_, _ = w.Write(rp.body) // a client that went away is not an error of the simulator
	if rp.buf != nil {
		*rp.buf = rp.body[:0]
		s.bufs.Put(rp.buf)
	}
}

func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (s *Server) getIdx() *[]uint64 {
	if b, ok := s.idxs.Get().(*[]uint64); ok {
		return b
	}
	b := make([]uint64, 0, MaxPageSize)
	return &b
}

// rid returns a fresh request id shaped like WeChat's: the unix time in hex,
// then two hex words.
func (s *Server) rid(now time.Time) string {
	h := mix64(s.ridSeq.Add(1) ^ s.ridKey)
	return fmt.Sprintf("%08x-%08x-%08x", uint32(now.Unix()), uint32(h>>32), uint32(h))
}

// errReply is an API error: HTTP 200, {"errcode":N,"errmsg":"MSG rid: RID"}.
func (s *Server) errReply(code int, msg string, now time.Time) reply {
	b := []byte(`{"errcode":`)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"errmsg":`...)
	b = appendJSONString(b, msg+" rid: "+s.rid(now))
	b = append(b, '}')
	return reply{status: http.StatusOK, ctype: jsonContentType, body: b, errcode: code}
}

// jsonReply encodes v as the live API does (no HTML escaping, no newline).
func jsonReply(v any) reply {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the simulator's own types are encoded here.
		panic(fmt.Errorf("wxsim: encoding answer: %w", err))
	}
	return reply{status: http.StatusOK, ctype: jsonContentType, body: bytes.TrimSuffix(b.Bytes(), []byte("\n"))}
}

// appendJSONString appends s as a JSON string. Bytes ≥ 0x80 are copied as
// they are (invalid UTF-8 stays invalid, on purpose).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendPage appends a list page: {"total":T,"count":C,"data":{"openid":[...]},"next_openid":"N"},
// without "data" when n is 0. item appends entry i (a JSON string).
func appendPage(b []byte, total uint64, count, n int, item func([]byte, int) []byte, next string) []byte {
	b = append(b, `{"total":`...)
	b = strconv.AppendUint(b, total, 10)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(count), 10)
	if n > 0 {
		b = append(b, `,"data":{"openid":[`...)
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = item(b, i)
		}
		b = append(b, "]}"...)
	}
	b = append(b, `,"next_openid":`...)
	b = appendJSONString(b, next)
	return append(b, '}')
}

// appendProfile appends p as user/info and batchget answer it: the bytes
// encoding/json writes for Profile (or, for a follower that left, for
// unsubscribed), without its reflection, which dominated the cost of a
// batchget answer. TestAppendProfileMatchesEncodingJSON holds the two equal.
func appendProfile(b []byte, p Profile) []byte {
	b = append(b, `{"subscribe":`...)
	b = strconv.AppendInt(b, int64(p.Subscribe), 10)
	b = append(b, `,"openid":`...)
	b = appendJSONString(b, p.OpenID)
	if p.Subscribe == 0 {
		return append(b, '}')
	}
	b = append(b, `,"nickname":`...)
	b = appendJSONString(b, p.Nickname)
	b = append(b, `,"sex":`...)
	b = strconv.AppendInt(b, int64(p.Sex), 10)
	b = append(b, `,"language":`...)
	b = appendJSONString(b, p.Language)
	b = append(b, `,"city":`...)
	b = appendJSONString(b, p.City)
	b = append(b, `,"province":`...)
	b = appendJSONString(b, p.Province)
	b = append(b, `,"country":`...)
	b = appendJSONString(b, p.Country)
	b = append(b, `,"headimgurl":`...)
	b = appendJSONString(b, p.HeadImgURL)
	b = append(b, `,"subscribe_time":`...)
	b = strconv.AppendInt(b, p.SubscribeTime, 10)
	if p.UnionID != "" {
		b = append(b, `,"unionid":`...)
		b = appendJSONString(b, p.UnionID)
	}
	b = append(b, `,"remark":`...)
	b = appendJSONString(b, p.Remark)
	b = append(b, `,"groupid":`...)
	b = strconv.AppendInt(b, int64(p.GroupID), 10)
	b = append(b, `,"tagid_list":`...)
	if p.TagIDList == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, id := range p.TagIDList {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(id), 10)
		}
		b = append(b, ']')
	}
	b = append(b, `,"subscribe_scene":`...)
	b = appendJSONString(b, p.SubscribeScene)
	b = append(b, `,"qr_scene":`...)
	b = strconv.AppendInt(b, int64(p.QRScene), 10)
	b = append(b, `,"qr_scene_str":`...)
	b = appendJSONString(b, p.QRSceneStr)
	return append(b, '}')
}
