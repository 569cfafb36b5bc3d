package wxsim

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// badGatewayBody is what nginx in front of an API answers.
const badGatewayBody = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// faultReply returns the answer of an errcode or canned-body fault; ok is
// false for kinds that act elsewhere (list kinds, truncated, bad-utf8,
// slow) or that write themselves (reset, huge-body).
func (s *Server) faultReply(rq *request) (reply, bool) {
	now := rq.now
	switch rq.fault {
	case FaultBusy:
		return s.errReply(-1, "system error", now), true
	case FaultTooFrequent:
		return s.errReply(45011, "api minute-quota reach limit  mustslower  retry next minute", now), true
	case FaultQuota:
		return s.errReply(45009, "reach max api daily quota limit", now), true
	case FaultExpired:
		return s.errReply(42001, "access_token expired", now), true
	case FaultInvalidToken:
		return s.errReply(40001, msgInvalidCredential, now), true
	case FaultRevokeToken:
		s.revokeAll(now)
		return s.errReply(40001, msgInvalidCredential, now), true
	case FaultExpireToken:
		s.expireToken(rq.call.Token, now)
		return s.errReply(42001, "access_token expired", now), true
	case FaultUnauthorized:
		return s.errReply(48001, "api unauthorized", now), true
	case FaultNotAuthorised:
		return s.errReply(50001, "user unauthorized", now), true
	case FaultIPWhitelist:
		return s.errReply(40164, whitelistMsg(rq.r.RemoteAddr), now), true
	case FaultBadGateway:
		return reply{status: http.StatusBadGateway, ctype: "text/html", body: []byte(badGatewayBody)}, true
	case FaultNotJSON:
		return reply{status: http.StatusOK, ctype: "text/plain", body: []byte("hello")}, true
	}
	return reply{}, false
}

// whitelistMsg names the caller's IP as the live API does:
// "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist".
func whitelistMsg(remoteAddr string) string {
	ip := net.ParseIP(remoteAddr)
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip = net.ParseIP(host)
	}
	if ip == nil {
		ip = net.IPv4(1, 2, 3, 4)
	}
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("invalid ip %s ipv6 ::ffff:%s, not in whitelist", v4, v4)
	}
	return fmt.Sprintf("invalid ip %s ipv6 %s, not in whitelist", ip, ip)
}

// resetConn closes the client's connection without an answer (an RST when
// the connection can be hijacked, else the server aborts the response).
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with RST, like a reset by a middlebox
	}
	_ = conn.Close()
}

// writeHuge streams more than HugeBodySize bytes of valid JSON shaped like
// a user/get page (chunked, no Content-Length). It stops when the client
// goes away.
func (s *Server) writeHuge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusOK)
	var chunk []byte
	for i := range uint64(2048) {
		chunk = append(chunk, '"')
		chunk = s.codec.appendOpenID(chunk, i)
		chunk = append(chunk, `",`...)
	}
	first := s.codec.openID(0)
	head := `{"total":` + strconv.Itoa(s.Total()) + `,"count":10000,"data":{"openid":[`
	if _, err := io.WriteString(w, head); err != nil {
		return
	}
	for n := len(head); n < HugeBodySize; n += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
	_, _ = io.WriteString(w, `"`+first+`"]},"next_openid":"`+first+`"}`)
}

// corruptUTF8 puts a 0xff byte inside the first openid string of body (or,
// when there is none, at the start of the first string value).
func corruptUTF8(body []byte) []byte {
	for i := 0; i+OpenIDLength+1 < len(body); i++ {
		if body[i] != '"' || body[i+1] != 'o' || body[i+OpenIDLength+1] != '"' {
			continue
		}
		s := body[i+1 : i+1+OpenIDLength]
		if bytes.IndexFunc(s, func(r rune) bool { _, ok := b64val(byte(r)); return !ok || r > 0x7f }) < 0 {
			body[i+1+OpenIDLength/2] = 0xff
			return body
		}
	}
	if i := bytes.Index(body, []byte(`:"`)); i >= 0 {
		return append(body[:i+2:i+2], append([]byte{0xff}, body[i+2:]...)...)
	}
	return body
}
