package wxsim

import (
	"fmt"
	"strconv"

	"github.com/wxsync/wxsync/connector/push"
)

// Change makes one change to the account and returns its sequence number
// and the event WeChat would push for it (not pushed: see Deliver, or Push
// which does both). The kind is drawn by Mix:
//
//   - subscribe: a new follower (index N+k, listed as AddFollowers lists
//     it) whose profile says subscribe_time = the event's CreateTime; when
//     the profile's subscribe_scene is ADD_SCENE_QR_CODE the event carries
//     EventKey "qrscene_" + its qr_scene (or qr_scene_str) and a Ticket;
//   - unsubscribe: a current follower, drawn at random, leaves;
//   - SCAN: a current follower scans a QR code (no change to the list).
//
// Two rules keep the events unambiguous, as a receiver needs them to
// rebuild the follower list: nobody unsubscribes in the second they
// subscribed (the order of two events with the same CreateTime is unknown
// to a receiver), and no two SCANs share an identity. When an unsubscribe
// or SCAN finds nobody eligible it becomes a subscribe.
func (p *Pusher) Change() (int, push.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.Now().Unix()
	if now != p.sec {
		p.sec = now
		clear(p.joined)
		clear(p.scanned)
	}
	m := push.Message{ToUserName: p.origID, CreateTime: now, MsgType: "event"}
	mix := p.o.Mix
	draw := p.rng.IntN(mix.Subscribe + mix.Unsubscribe + mix.Scan)
	ok := false
	switch {
	case draw < mix.Subscribe:
	case draw < mix.Subscribe+mix.Unsubscribe:
		ok = p.unsubscribe(&m)
	default:
		ok = p.scan(&m)
	}
	if !ok {
		p.subscribe(&m)
	}
	m.Event = m.Kind.String()
	p.seq++
	p.stats.Changes = p.seq
	return p.seq, m
}

// subscribe adds a follower. Caller holds p.mu.
func (p *Pusher) subscribe(m *push.Message) {
	s := p.srv
	s.fmu.Lock()
	idx := s.f.add(1)[0]
	s.f.subscribedAt[idx] = m.CreateTime
	s.fmu.Unlock()
	s.mu.Lock()
	s.added = append(s.added, idx)
	s.mu.Unlock()
	p.joined[idx] = true
	prof := s.profile(idx)
	m.Kind, m.OpenID = push.KindSubscribe, s.codec.openID(idx)
	if prof.SubscribeScene == sceneQR {
		scene := prof.QRSceneStr
		if scene == "" {
			scene = strconv.Itoa(prof.QRScene)
		}
		m.EventKey, m.Scene, m.Ticket = push.QRScenePrefix+scene, scene, p.ticket(scene)
	}
}

// unsubscribe removes a random current follower who did not subscribe in
// this second. Caller holds p.mu.
func (p *Pusher) unsubscribe(m *push.Message) bool {
	s := p.srv
	s.fmu.Lock()
	idx, ok := p.randomFollower(func(i uint64) bool { return !p.joined[i] })
	if ok {
		s.f.removeIdx(idx)
	}
	s.fmu.Unlock()
	if !ok {
		return false
	}
	s.mu.Lock()
	s.removed = append(s.removed, idx)
	s.mu.Unlock()
	m.Kind, m.OpenID = push.KindUnsubscribe, s.codec.openID(idx)
	return true
}

// scan makes a random current follower scan a QR code: one of the
// account's permanent codes (string scenes) or a temporary one (1..1000).
// Caller holds p.mu.
func (p *Pusher) scan(m *push.Message) bool {
	s := p.srv
	for range 8 {
		scene := strconv.Itoa(1 + p.rng.IntN(1000))
		if p.rng.IntN(2) == 0 {
			scene = s.tab.qrSceneStrs[p.rng.IntN(len(s.tab.qrSceneStrs))]
		}
		s.fmu.RLock()
		idx, ok := p.randomFollower(func(uint64) bool { return true })
		s.fmu.RUnlock()
		if !ok {
			return false
		}
		id := push.EventID{OpenID: s.codec.openID(idx), CreateTime: m.CreateTime, Event: push.KindScan.String(), EventKey: scene}
		if p.scanned[id] {
			continue
		}
		p.scanned[id] = true
		m.Kind, m.OpenID, m.EventKey, m.Scene, m.Ticket = push.KindScan, id.OpenID, scene, scene, p.ticket(scene)
		return true
	}
	return false
}

// randomFollower draws a current follower accepted by ok: random draws
// over every index ever handed out, then (dense removals) a scan from a
// random start. Caller holds p.mu and s.fmu.
func (p *Pusher) randomFollower(ok func(uint64) bool) (uint64, bool) {
	f := &p.srv.f
	m := f.everExisted()
	if m == 0 {
		return 0, false
	}
	for range 64 {
		if idx := p.rng.Uint64N(m); f.follows(idx) && ok(idx) {
			return idx, true
		}
	}
	start := p.rng.Uint64N(m)
	for k := uint64(0); k < m; k++ {
		if idx := (start + k) % m; f.follows(idx) && ok(idx) {
			return idx, true
		}
	}
	return 0, false
}

// ticket is the QR code ticket of a scene: a fixed, ticket-shaped string.
func (p *Pusher) ticket(scene string) string {
	var h uint64 = derive(p.srv.opts.Seed, 32)
	for i := 0; i < len(scene); i++ {
		h = mix64(h ^ uint64(scene[i]))
	}
	return fmt.Sprintf("gQ%016x%016x", h, mix64(h+1))
}
