package main

// Acceptance tests of the users, tags and blacklist streams (issue 3): the
// real host and plugin against wxsim and ClickHouse, every outcome compared
// with wxsim's truth.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/sink"
)

// streamsAll selects every stream (the harness's default is followers only).
const streamsAll = "WXSYNC_STREAMS=followers,users,tags,blacklist"

// streamsAccount selects the follower walk and the profiles riding it.
const streamsAccount = "WXSYNC_STREAMS=followers,users"

// batchTap records the openids of every batchget request wxsim receives.
type batchTap struct {
	t      testing.TB
	before func()
	once   sync.Once
	mu     sync.Mutex
	calls  [][]string
}

// tapBatchGets makes e's gate record every batchget request's openids
// (the body is restored for wxsim). before, if not nil, runs once before
// wxsim serves the first batchget request; every batchget request waits
// for it. Call it before the test's first run: the gate stays for the
// whole test.
func (e *env) tapBatchGets(before func()) *batchTap {
	tap := &batchTap{t: e.t, before: before}
	e.setGate(func(r *http.Request) {
		if r.URL.Path != wxsim.PathBatchGet {
			return
		}
		if tap.before != nil {
			tap.once.Do(tap.before)
		}
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return // the client went away mid-request (a run being stopped)
		}
		var req struct {
			UserList []struct {
				OpenID string `json:"openid"`
			} `json:"user_list"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			tap.t.Errorf("batchget request body %q: %v", body, err)
			return
		}
		ids := make([]string, len(req.UserList))
		for i, u := range req.UserList {
			ids[i] = u.OpenID
		}
		tap.mu.Lock()
		tap.calls = append(tap.calls, ids)
		tap.mu.Unlock()
	})
	return tap
}

// take returns the openids requested since the last take, every call's
// together, and forgets them.
func (t *batchTap) take() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, c := range t.calls {
		out = append(out, c...)
	}
	t.calls = nil
	return out
}

// wantBatchGets fails the test unless wxsim's call log (since the last
// ResetCalls) holds exactly want batchget calls, none empty or above 100
// openids and all but at most one exactly 100.
func (e *env) wantBatchGets(want int) {
	e.t.Helper()
	sizes := wxsim.BatchGetSizes(e.sim.CallLog())
	if len(sizes) != want {
		e.t.Fatalf("%d batchget calls, want %d", len(sizes), want)
	}
	short := 0
	for _, n := range sizes {
		if n < 1 || n > wxsim.MaxBatch {
			e.t.Fatalf("a batchget call of %d openids (sizes %v)", n, sizes)
		}
		if n != wxsim.MaxBatch {
			short++
		}
	}
	if short > 1 {
		e.t.Fatalf("%d batchget calls of fewer than %d openids, want at most 1 (sizes %v)", short, wxsim.MaxBatch, sizes)
	}
}

// wantSameSet fails the test unless got holds each openid of want once
// and nothing else.
func wantSameSet(t testing.TB, what string, got, want []string) {
	t.Helper()
	g, w := sorted(got), sorted(want)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: %d openids, want %d (first difference: %s)", what, len(g), len(w), firstDiff(g, w))
	}
}

// storedProfile is a row of wechat_users as the tests compare it.
type storedProfile struct {
	Subscribe      uint8
	Language       string
	SubscribeTime  uint32 // toUnixTimestamp(subscribe_time)
	SubscribeUTC   string // toString(subscribe_time, 'UTC')
	UnionID        string
	Remark         string
	GroupID        int64
	TagIDs         string // comma-separated
	SubscribeScene string
	QRScene        int64
	QRSceneStr     string
}

// storedProfiles returns the account's rows of wechat_users FINAL by openid,
// failing the test on a repeated openid.
func (e *env) storedProfiles() map[string]storedProfile {
	e.t.Helper()
	q := strings.ReplaceAll("SELECT openid, subscribe, language, toUnixTimestamp(subscribe_time), toString(subscribe_time, 'UTC'), "+
		"unionid, remark, groupid, arrayStringConcat(arrayMap(x -> toString(x), tagid_list), ','), subscribe_scene, qr_scene, qr_scene_str "+
		"FROM {db}.wechat_users FINAL WHERE appid = ?", "{db}", "`"+e.sink.Database()+"`")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := e.sink.Conn().Query(ctx, q, e.sim.Options().AppID)
	if err != nil {
		e.t.Fatalf("query wechat_users: %v", err)
	}
	defer rows.Close()
	out := map[string]storedProfile{}
	for rows.Next() {
		var id string
		var p storedProfile
		if err := rows.Scan(&id, &p.Subscribe, &p.Language, &p.SubscribeTime, &p.SubscribeUTC, &p.UnionID, &p.Remark,
			&p.GroupID, &p.TagIDs, &p.SubscribeScene, &p.QRScene, &p.QRSceneStr); err != nil {
			e.t.Fatalf("scan wechat_users: %v", err)
		}
		if _, dup := out[id]; dup {
			e.t.Fatalf("wechat_users FINAL holds openid %s twice", id)
		}
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// profileOf is what wechat_users should hold for wxsim's profile p.
func profileOf(p wxsim.Profile) storedProfile {
	tags := make([]string, len(p.TagIDList))
	for i, id := range p.TagIDList {
		tags[i] = fmt.Sprint(id)
	}
	return storedProfile{
		Subscribe: uint8(p.Subscribe), Language: p.Language,
		SubscribeTime: uint32(p.SubscribeTime), SubscribeUTC: time.Unix(p.SubscribeTime, 0).UTC().Format(time.DateTime),
		UnionID: p.UnionID, Remark: p.Remark, GroupID: int64(p.GroupID), TagIDs: strings.Join(tags, ","),
		SubscribeScene: p.SubscribeScene, QRScene: int64(p.QRScene), QRSceneStr: p.QRSceneStr,
	}
}

// wantProfiles fails the test unless wechat_users FINAL holds a profile
// for exactly the openids in want, each equal, field by field, to wxsim's
// Profile now.
func (e *env) wantProfiles(want []string) {
	e.t.Helper()
	got := e.storedProfiles()
	have := make([]string, 0, len(got))
	for id := range got {
		have = append(have, id)
	}
	wantSameSet(e.t, "wechat_users FINAL", have, want)
	e.wantProfilesOf(got, want)
}

// wantProfilesOf fails the test unless got (from storedProfiles) holds the
// profile of each of ids, equal field by field to wxsim's Profile now.
func (e *env) wantProfilesOf(got map[string]storedProfile, ids []string) {
	e.t.Helper()
	bad := 0
	for _, id := range ids {
		p, ok := e.sim.Profile(id)
		if !ok {
			e.t.Fatalf("wxsim knows no follower %s", id)
		}
		w := profileOf(p)
		g, ok := got[id]
		if ok && g.SubscribeTime == 0 && g.SubscribeUTC == "0000-00-00 00:00:00" {
			g.SubscribeUTC = w.SubscribeUTC // how ClickHouse 18.16 prints DateTime 0
		}
		if !ok || g != w {
			if bad++; bad <= 5 {
				e.t.Errorf("wechat_users %s = %+v (present %v), want %+v", id, g, ok, w)
			}
		}
	}
	if bad > 0 {
		e.t.Fatalf("%d of %d profiles differ from wxsim's", bad, len(ids))
	}
}

// syncArgs runs `wxsync sync args...` and fails the test unless it exits
// with want.
func (e *env) syncArgs(want int, extraEnv []string, args ...string) result {
	e.t.Helper()
	r := e.run(extraEnv, append([]string{"sync"}, args...)...)
	if r.code != want {
		e.t.Fatalf("wxsync sync %s exited %d, want %d; output:\n%s", strings.Join(args, " "), r.code, want, r.output)
	}
	return r
}

// wantTags fails the test unless wechat_tags FINAL equals wxsim's Tags().
func (e *env) wantTags() {
	e.t.Helper()
	var want []string
	for _, tg := range e.sim.Tags() {
		want = append(want, fmt.Sprintf("%d|%s|%d", tg.ID, tg.Name, tg.Count))
	}
	got := e.query("SELECT concat(toString(id), '|', name, '|', toString(count)) AS x FROM {db}.wechat_tags FINAL WHERE appid = ?", e.sim.Options().AppID)
	wantSameSet(e.t, "wechat_tags FINAL", got, want)
	if len(want) == 0 {
		e.t.Fatal("wxsim has no tags")
	}
}

// streamSnapshots returns the ids of stream's complete snapshots (FINAL),
// oldest first.
func (e *env) streamSnapshots(stream string) []string {
	return e.query("SELECT snapshot_id AS x FROM {db}.wechat_snapshots FINAL WHERE appid = ? AND stream = ? AND complete = 1 ORDER BY snapshot_id",
		e.sim.Options().AppID, stream)
}

// wantBlacklist fails the test unless wechat_blacklist_current holds
// exactly wxsim's blacklist, all from the newest complete snapshot, of
// which there are snaps.
func (e *env) wantBlacklist(snaps int) {
	e.t.Helper()
	appid := e.sim.Options().AppID
	got := e.query("SELECT openid AS x FROM {db}.wechat_blacklist_current WHERE appid = ?", appid)
	wantSameSet(e.t, "wechat_blacklist_current", got, e.sim.BlacklistOpenIDs())
	ids := e.streamSnapshots("blacklist")
	if len(ids) != snaps {
		e.t.Fatalf("%d complete blacklist snapshots, want %d", len(ids), snaps)
	}
	if view := e.query("SELECT DISTINCT snapshot_id AS x FROM {db}.wechat_blacklist_current WHERE appid = ?", appid); len(got) > 0 && !slices.Equal(view, ids[len(ids)-1:]) {
		e.t.Fatalf("wechat_blacklist_current shows snapshots %v, want the newest complete one, %s", view, ids[len(ids)-1])
	}
}

// accountState returns the saved cursors of the followers and users
// streams ("" when none).
func (e *env) accountState() (followers, users string) {
	for _, r := range e.rows("SELECT stream, cursor FROM {db}.wxsync_state FINAL WHERE appid = ?", e.sim.Options().AppID) {
		switch r[0] {
		case "followers":
			followers = r[1]
		case "users":
			users = r[1]
		}
	}
	return followers, users
}

// 23,000 followers, every stream: exact profiles in 230 full batchget
// calls; a rerun with nothing new fetches none; --full-refresh fetches all
// again; new followers alone are fetched after they arrive.
func TestStreamsUsersExactAndIncremental(t *testing.T) {
	e := newEnv(t, wxsim.DefaultOptions())
	tap := e.tapBatchGets(nil)
	n := e.sim.Total()
	calls := (n + wxsim.MaxBatch - 1) / wxsim.MaxBatch
	if calls != 230 {
		t.Fatalf("%d followers: %d calls expected, the test wants 230", n, calls)
	}

	e.sync(exitOK, streamsAll)
	e.wantCurrent()
	e.wantProfiles(e.sim.FollowerOpenIDs())
	e.wantBatchGets(calls)
	wantSameSet(t, "openids sent to batchget", tap.take(), e.sim.FollowerOpenIDs())
	e.wantTags()
	e.wantBlacklist(1)

	t.Log("a rerun with nothing new fetches no profile")
	e.sim.ResetCalls()
	e.sync(exitOK, streamsAll)
	e.wantBatchGets(0)
	if s := e.snapshots(); len(s) != 2 || s[0].Complete != 1 || s[1].Complete != 1 {
		t.Fatalf("followers snapshots %+v, want 2 complete", s)
	}
	e.wantCurrent()
	e.wantProfiles(e.sim.FollowerOpenIDs())

	t.Log("a rerun with --full-refresh fetches every profile again (WXSYNC_FULL_REFRESH: TestStreamsUsersMaxAge)")
	e.sim.ResetCalls()
	e.syncArgs(exitOK, []string{streamsAccount}, "--full-refresh")
	e.wantBatchGets(calls)
	wantSameSet(t, "openids sent to batchget", tap.take(), e.sim.FollowerOpenIDs())
	e.wantProfiles(e.sim.FollowerOpenIDs())

	t.Log("after 500 new followers, a rerun fetches theirs only")
	added := e.sim.AddFollowers(500)
	e.sim.ResetCalls()
	e.sync(exitOK, streamsAll)
	if got := len(wxsim.BatchGetSizes(e.sim.CallLog())); got > 5 {
		t.Fatalf("%d batchget calls for 500 new followers, want at most 5", got)
	}
	wantSameSet(t, "openids sent to batchget", tap.take(), added)
	e.wantCurrent()
	e.wantProfiles(e.sim.FollowerOpenIDs())
	e.wantTags()
}

// 45009 in the middle of the profiles: exit 75, and the rerun fetches
// exactly the profiles the first run did not commit, each once, and ends
// with every profile exact.
func TestStreamsUsersQuotaResume(t *testing.T) {
	const stopAt = 40 // the batchget call the fault makes answer 45009
	for _, tc := range []struct {
		name  string
		opts  func(*wxsim.Options)
		clear func(*wxsim.Server)
	}{
		{"fault", func(o *wxsim.Options) {
			o.Faults = []wxsim.Fault{{Path: wxsim.PathBatchGet, Call: stopAt, Kind: wxsim.FaultQuota}}
		}, func(*wxsim.Server) {}},
		// Enough for the rest of the profiles the next day.
		{"daily quota", func(o *wxsim.Options) { o.Quotas[wxsim.PathBatchGet] = 60 }, (*wxsim.Server).ResetQuota},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := wxsim.DefaultOptions()
			o.Followers, o.PageSize = 9876, 1550 // 7 pages, 99 batches, a carry on odd pages
			tc.opts(&o)
			e := newEnv(t, o)
			tap := e.tapBatchGets(nil)
			r := e.sync(exitTempFail, streamsAccount)
			if !strings.Contains(r.output, "45009") {
				t.Fatalf("the run does not say 45009; output:\n%s", r.output)
			}
			tap.take()
			committed := e.query("SELECT openid AS x FROM {db}.wechat_users FINAL WHERE appid = ?", o.AppID)
			if len(committed) == 0 || len(committed) >= e.sim.Total() {
				t.Fatalf("%d profiles committed by the run stopped by 45009, want some but not all %d", len(committed), e.sim.Total())
			}
			e.wantProfilesOf(e.storedProfiles(), committed)
			if f, u := e.accountState(); f != u {
				t.Fatalf("saved cursors differ: followers %q, users %q", f, u)
			}

			tc.clear(e.sim)
			e.sync(exitOK, streamsAccount)
			again := tap.take()
			done := map[string]bool{}
			for _, id := range committed {
				done[id] = true
			}
			var refetched []string
			for _, id := range again {
				if done[id] {
					refetched = append(refetched, id)
				}
			}
			if len(refetched) > 0 {
				t.Fatalf("the rerun fetched %d profiles the first run had committed, e.g. %s", len(refetched), refetched[0])
			}
			var missing []string
			for _, id := range e.sim.FollowerOpenIDs() {
				if !done[id] {
					missing = append(missing, id)
				}
			}
			wantSameSet(t, "openids the rerun sent to batchget", again, missing)
			e.wantOneSnapshot(0)
			e.wantProfiles(e.sim.FollowerOpenIDs())
			if f, u := e.accountState(); f != "" || u != "" {
				t.Fatalf("saved cursors after a complete run: followers %q, users %q", f, u)
			}
		})
	}
}

// ClickHouse failing the host's profile lookup (here: wechat_users gone
// once the run has started) ends the run with exit 75, like a failing
// insert, with no batchget call and no cursor saved past what is
// committed; the next run, with the table back, ends with every profile.
func TestStreamsUsersLookupFailureIsTemporary(t *testing.T) {
	e := newEnv(t, smallPages()) // 5,500 followers, 1,000 a page
	db := "`" + e.sink.Database() + "`"
	var once sync.Once
	e.setGate(func(r *http.Request) {
		if r.URL.Path != wxsim.PathUserGet {
			return
		}
		once.Do(func() {
			if err := e.sink.Conn().Exec(context.Background(), "RENAME TABLE "+db+".wechat_users TO "+db+".wechat_users_away"); err != nil {
				t.Errorf("rename wechat_users: %v", err)
			}
		})
	})
	r := e.sync(exitTempFail, streamsAccount, "CLICKHOUSE_RETRY_TIME=1s")
	if !strings.Contains(r.output, "ask the host which profiles are needed: load fresh profiles of wxsim0000000000001 from wechat_users") {
		t.Fatalf("the run does not say the lookup failed; output:\n%s", r.output)
	}
	if n := len(wxsim.BatchGetSizes(e.sim.CallLog())); n != 0 {
		t.Fatalf("%d batchget calls after the lookup failed, want 0", n)
	}
	if f, u := e.accountState(); f != "" || u != "" {
		t.Fatalf("cursors saved though no profile was committed: followers %q, users %q", f, u)
	}
	if err := e.sink.Conn().Exec(context.Background(), "RENAME TABLE "+db+".wechat_users_away TO "+db+".wechat_users"); err != nil {
		t.Fatal(err)
	}
	e.setGate(nil)
	e.sync(exitOK, streamsAccount)
	// The failed run's snapshot, begun at its commit of the first page's
	// followers and named by no state, was abandoned and its rows dropped
	// when the rerun's snapshot completed.
	snaps := e.snapshots()
	n := uint64(e.sim.Total())
	if len(snaps) != 2 || snaps[0].Complete != sink.SnapshotAbandoned || snaps[1].Complete != sink.SnapshotComplete || snaps[1].Rows != n {
		t.Fatalf("wechat_snapshots = %+v, want the failed run's abandoned, then one complete of %d rows", snaps, n)
	}
	if left := e.count("SELECT count() AS x FROM {db}.wechat_followers WHERE snapshot_id = ?", snaps[0].ID); left != 0 {
		t.Errorf("the abandoned snapshot still holds %d rows", left)
	}
	e.wantCurrent()
	e.wantProfiles(e.sim.FollowerOpenIDs())
}

// Followers who leave after the list was fetched and before their
// profiles are: the walk lists them, batchget answers subscribe 0, and
// wechat_users records that.
func TestStreamsUsersUnsubscribed(t *testing.T) {
	e := newEnv(t, smallPages()) // 5,500 followers, 1,000 a page
	// Every batchget waits until the first has removed 300 followers: those
	// of them on the pages listed by then get subscribe 0, deterministically
	// (the walk lists page 1 before any batch exists).
	e.tapBatchGets(func() { e.sim.RemoveFollowers(300) })
	e.sync(exitOK, streamsAccount)
	_, removed := e.sim.Churned()
	if len(removed) != 300 {
		t.Fatalf("%d followers removed, want 300", len(removed))
	}

	listed := e.current()
	e.wantProfiles(listed)
	var gone []string
	for _, id := range removed {
		if _, found := slices.BinarySearch(listed, id); found {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		t.Fatal("none of the removed followers was listed before it left: the test proves nothing")
	}
	zero := e.query("SELECT openid AS x FROM {db}.wechat_users FINAL WHERE appid = ? AND subscribe = 0", e.sim.Options().AppID)
	wantSameSet(t, "profiles with subscribe = 0", zero, gone)
}

// WXSYNC_USERS_MAX_AGE: profiles fetched longer ago than it are fetched
// again, and only those.
func TestStreamsUsersMaxAge(t *testing.T) {
	e := newEnv(t, smallPages())
	tap := e.tapBatchGets(nil)
	ctx := context.Background()
	if err := e.sink.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ids := e.sim.FollowerOpenIDs()
	now := time.Now()
	month, days, fresh := ids[:300], ids[300:550], ids[550:]
	e.insertBareProfiles(month, now.Add(-30*24*time.Hour))
	e.insertBareProfiles(days, now.Add(-72*time.Hour))
	e.insertBareProfiles(fresh, now.Add(-time.Hour))

	e.sync(exitOK, streamsAccount, "WXSYNC_USERS_MAX_AGE=100h")
	wantSameSet(t, "fetched with max age 100h", tap.take(), month)
	e.wantProfilesOf(e.storedProfiles(), month)

	e.sync(exitOK, streamsAccount, "WXSYNC_USERS_MAX_AGE=48h")
	wantSameSet(t, "fetched with max age 48h", tap.take(), days)
	e.wantProfilesOf(e.storedProfiles(), days)

	e.sync(exitOK, streamsAccount) // the default, 168h
	wantSameSet(t, "fetched with the default max age", tap.take(), nil)

	e.sync(exitOK, streamsAccount, "WXSYNC_USERS_MAX_AGE=30m")
	wantSameSet(t, "fetched with max age 30m", tap.take(), fresh)
	e.wantProfiles(ids)

	e.sim.ResetCalls()
	e.sync(exitOK, streamsAccount, "WXSYNC_FULL_REFRESH=true")
	wantSameSet(t, "fetched with WXSYNC_FULL_REFRESH=true", tap.take(), ids)
	e.wantBatchGets((len(ids) + 99) / 100)
	e.wantProfiles(ids)
}

// insertBareProfiles writes a profile row holding only appid, openid and
// fetched_at for each of ids, as if fetched at at.
func (e *env) insertBareProfiles(ids []string, at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	b, err := e.sink.Conn().PrepareBatch(ctx, "INSERT INTO `"+e.sink.Database()+"`.wechat_users (appid, openid, fetched_at)")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, id := range ids {
		if err := b.Append(e.sim.Options().AppID, id, at.UTC()); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		e.t.Fatal(err)
	}
}

// Tags: wechat_tags FINAL is wxsim's tag list with exact counts, and
// follows the counts when followers come and go. A tags-only sync walks no
// list and fetches no profile.
func TestStreamsTags(t *testing.T) {
	e := newEnv(t, smallPages())
	tags := "WXSYNC_STREAMS=tags"
	e.sync(exitOK, tags)
	e.wantTags()
	calls := e.sim.Calls()
	if calls[wxsim.PathUserGet] != 0 || calls[wxsim.PathBatchGet] != 0 || calls[wxsim.PathBlacklist] != 0 || calls[wxsim.PathTagsGet] != 1 {
		t.Fatalf("a tags-only sync made calls %v, want one tags/get and no list or profile call", calls)
	}
	if n := e.count("SELECT count() AS x FROM {db}.wechat_followers"); n != 0 {
		t.Fatalf("a tags-only sync wrote %d followers rows", n)
	}
	if n := e.count("SELECT count() AS x FROM {db}.wechat_users"); n != 0 {
		t.Fatalf("a tags-only sync wrote %d profiles", n)
	}

	e.sim.AddFollowers(700)
	e.sim.RemoveFollowers(300)
	e.syncArgs(exitOK, nil, "--streams", "tags")
	e.wantTags()
}

// Blacklist: wechat_blacklist_current is wxsim's blacklist, walked in pages
// of 1,000 and of 10,000; every run makes a new complete snapshot and the
// view moves to it.
func TestStreamsBlacklist(t *testing.T) {
	for _, size := range []int{1000, 10000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			o := smallPages()
			o.Blacklisted, o.BlacklistPageSize = 2500, size
			e := newEnv(t, o)
			bl := "WXSYNC_STREAMS=blacklist"
			e.sync(exitOK, bl)
			e.wantBlacklist(1)
			pages := walkCalls(o.Blacklisted, size, o.EndStyle)
			if got := e.sim.Calls()[wxsim.PathBlacklist]; got != pages {
				t.Fatalf("%d getblacklist calls, want %d", got, pages)
			}
			if n := e.count("SELECT count() AS x FROM {db}.wechat_followers"); n != 0 {
				t.Fatalf("a blacklist-only sync wrote %d followers rows", n)
			}
			first := e.streamSnapshots("blacklist")

			e.sync(exitOK, bl)
			e.wantBlacklist(2)
			if second := e.streamSnapshots("blacklist"); second[0] != first[0] {
				t.Fatalf("blacklist snapshots after the second run %v, want %s kept and a newer one", second, first[0])
			}
			if n := e.count("SELECT count() AS x FROM {db}.wechat_blacklist FINAL WHERE appid = ?", o.AppID); n != 2*uint64(o.Blacklisted) {
				t.Fatalf("wechat_blacklist FINAL holds %d rows, want 2 complete snapshots of %d", n, o.Blacklisted)
			}
		})
	}
}

// `--streams users` walks the follower list for the profiles alone: no
// followers rows, no followers snapshot, every profile exact; an unknown
// stream is a configuration error (exit 78).
func TestStreamsUsersOnly(t *testing.T) {
	e := newEnv(t, smallPages())
	tap := e.tapBatchGets(nil)
	e.syncArgs(exitOK, nil, "--streams", "users")
	if got, want := e.sim.Calls()[wxsim.PathUserGet], walkCalls(e.sim.Total(), 1000, wxsim.EndCountZero); got != want {
		t.Fatalf("%d user/get calls, want %d", got, want)
	}
	if n := e.count("SELECT count() AS x FROM {db}.wechat_followers"); n != 0 {
		t.Fatalf("a users-only sync wrote %d followers rows", n)
	}
	if n := e.count("SELECT count() AS x FROM {db}.wechat_snapshots"); n != 0 {
		t.Fatalf("a users-only sync wrote %d snapshot rows", n)
	}
	e.wantProfiles(e.sim.FollowerOpenIDs())
	e.wantBatchGets((e.sim.Total() + 99) / 100)
	wantSameSet(t, "openids sent to batchget", tap.take(), e.sim.FollowerOpenIDs())
	if f, u := e.accountState(); f != "" || u != "" {
		t.Fatalf("saved cursors after a complete users-only run: followers %q, users %q", f, u)
	}

	added := e.sim.AddFollowers(150)
	e.sync(exitOK, "WXSYNC_STREAMS=users")
	wantSameSet(t, "openids sent to batchget after 150 new followers", tap.take(), added)
	e.wantProfiles(e.sim.FollowerOpenIDs())

	for _, bad := range []struct{ env, args []string }{
		{nil, []string{"--streams", "users,bogus"}},
		{[]string{"WXSYNC_STREAMS=tags,blacklist,bogus"}, nil},
	} {
		r := e.run(bad.env, append([]string{"sync"}, bad.args...)...)
		if r.code != exitConfigErr || !strings.Contains(r.output, `"bogus"`) {
			t.Fatalf("an unknown stream (%v %v) exited %d, want %d naming it; output:\n%s", bad.env, bad.args, r.code, exitConfigErr, r.output)
		}
	}
}

// WXSYNC_USERS_CONCURRENCY 1 and 16 give the same exact result, in full
// batches, with pages (700) that are not a multiple of a batch.
func TestStreamsUsersConcurrency(t *testing.T) {
	for _, workers := range []int{1, 16} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			o := wxsim.DefaultOptions()
			o.Followers, o.PageSize = 12345, 700
			e := newEnv(t, o)
			tap := e.tapBatchGets(nil)
			e.sync(exitOK, streamsAccount, fmt.Sprintf("WXSYNC_USERS_CONCURRENCY=%d", workers))
			e.wantOneSnapshot(0)
			e.wantProfiles(e.sim.FollowerOpenIDs())
			e.wantBatchGets((o.Followers + 99) / 100)
			wantSameSet(t, "openids sent to batchget", tap.take(), e.sim.FollowerOpenIDs())
		})
	}
}
