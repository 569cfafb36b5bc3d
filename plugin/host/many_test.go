package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// multiDest routes each call to the fake destination of its account.
type multiDest struct {
	mu    sync.Mutex
	dests map[string]*fakeDest
	runs  []sink.Run
}

func (m *multiDest) of(appid string) *fakeDest {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dests[appid] == nil {
		m.dests[appid] = newFakeDest()
	}
	return m.dests[appid]
}

func (m *multiDest) LoadStates(ctx context.Context, appid string, streams []string) (map[string]sink.State, error) {
	return m.of(appid).LoadStates(ctx, appid, streams)
}
func (m *multiDest) SaveStates(ctx context.Context, appid string, states []sink.StreamState) error {
	return m.of(appid).SaveStates(ctx, appid, states)
}
func (m *multiDest) BeginSnapshot(ctx context.Context, appid, stream string) (uint64, error) {
	return m.of(appid).BeginSnapshot(ctx, appid, stream)
}
func (m *multiDest) Insert(ctx context.Context, st schema.Stream, appid string, id uint64, recs []arrow.Record) (int, error) {
	return m.of(appid).Insert(ctx, st, appid, id, recs)
}
func (m *multiDest) CompleteSnapshot(ctx context.Context, appid, stream string, id uint64, total int64) (uint64, error) {
	return m.of(appid).CompleteSnapshot(ctx, appid, stream, id, total)
}
func (m *multiDest) FreshProfiles(ctx context.Context, appid string, ids []string, since time.Time) (map[string]bool, error) {
	return m.of(appid).FreshProfiles(ctx, appid, ids, since)
}
func (m *multiDest) RecordRuns(_ context.Context, runs []sink.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs = append(m.runs, runs...)
	return nil
}

// failing is a script that sends one page, then ends with an error of k.
func failing(k kind.Kind, msg string) func([]plugin.StreamState) []step {
	return func([]plugin.StreamState) []step {
		return []step{rec(schema.Followers, "x"), cp(schema.Followers, "p1"), {err: &plugin.Error{Kind: k, Err: errors.New(msg)}}}
	}
}

// accountSources is the source a test's Launch returns: each Read plays
// the script of the account its config names (Prepare sets the config to
// the appid), into that account's fake destination.
type accountSources struct {
	t       *testing.T
	dst     *multiDest
	scripts map[string]func([]plugin.StreamState) []step
	reads   []string // the appids read, in order
}

func (s *accountSources) Read(ctx context.Context, config []byte, states []plugin.StreamState, h plugin.Host) (plugin.Messages, error) {
	appid := string(config)
	s.reads = append(s.reads, appid)
	script := s.scripts[appid]
	if script == nil {
		script = walk(pages, followers, false)
	}
	return (&scriptSource{t: s.t, dst: s.dst.of(appid), script: script}).Read(ctx, config, states, h)
}

func TestRunManyIsolatesFailuresAndBoundsParallelism(t *testing.T) {
	const n, parallel = 12, 3
	var accounts []Account
	for i := range n {
		accounts = append(accounts, Account{AppID: fmt.Sprintf("wx%02d", i), Source: SourceSecret})
	}
	dst := &multiDest{dests: map[string]*fakeDest{}}
	var mu sync.Mutex
	running, peak, launched, stopped := 0, 0, 0, 0
	var sources []*accountSources
	cfg := ManyConfig{
		Parallel: parallel, AccountsPerSource: 100, Dst: dst,
		Prepare: func(_ context.Context, a Account) (RunConfig, error) {
			if a.AppID == "wx07" {
				return RunConfig{ID: "r-" + a.AppID}, kind.Mark(kind.Config, errors.New("secret_env not set"))
			}
			return RunConfig{ID: "r-" + a.AppID, Streams: followers, SourceConfig: []byte(a.AppID)}, nil
		},
		Launch: func(context.Context) (Source, func(), error) {
			mu.Lock()
			defer mu.Unlock()
			running++
			launched++
			peak = max(peak, running)
			src := &accountSources{t: t, dst: dst, scripts: map[string]func([]plugin.StreamState) []step{
				"wx03": failing(kind.Config, "errcode 48001 api unauthorized"),
				"wx05": failing(kind.Temporary, "errcode 45009 quota"),
			}}
			sources = append(sources, src)
			stop := func() { mu.Lock(); running--; stopped++; mu.Unlock() }
			return src, stop, nil
		},
	}
	sum := RunMany(context.Background(), cfg, accounts)
	if peak > parallel || peak < 1 {
		t.Errorf("peak sources at once = %d, want 1..%d", peak, parallel)
	}
	// One source per worker, and a new one after each of the 2 failed
	// Reads (wx07 failed before its Read: its worker keeps its source).
	if launched > parallel+2 || launched < 3 || stopped != launched || running != 0 {
		t.Errorf("%d sources launched, %d stopped, %d still running; want at most %d (one per worker and one after each failed Read), all stopped",
			launched, stopped, running, parallel+2)
	}
	reads := 0
	for _, s := range sources {
		reads += len(s.reads)
		for i, appid := range s.reads {
			if (appid == "wx03" || appid == "wx05") && i != len(s.reads)-1 {
				t.Errorf("a source read %v: it was reused after %s failed", s.reads, appid)
			}
		}
	}
	if reads != n-1 {
		t.Errorf("%d Reads, want %d (every account but wx07, which failed before its Read)", reads, n-1)
	}
	if len(sum.Results) != n || len(dst.runs) != n {
		t.Fatalf("%d results, %d run records; want %d each", len(sum.Results), len(dst.runs), n)
	}
	want := map[string]string{"wx03": sink.RunConfigError, "wx05": sink.RunStopped, "wx07": sink.RunConfigError}
	for i, r := range sum.Results {
		if r.Account.AppID != accounts[i].AppID || r.RecordErr != nil {
			t.Fatalf("result %d is %s (record err %v)", i, r.Account.AppID, r.RecordErr)
		}
		st := want[r.Account.AppID]
		if st == "" {
			st = sink.RunOK
			if got := dst.of(r.Account.AppID).table(schema.Followers); !slices.Equal(got, []string{"1/a", "1/b", "1/c", "1/d", "1/e"}) {
				t.Errorf("%s: followers %v", r.Account.AppID, got)
			}
		}
		if r.Record.Status != st || r.Record.AppID != r.Account.AppID {
			t.Errorf("%s: status %s, want %s (err %v)", r.Account.AppID, r.Record.Status, st, r.Err)
		}
	}
	if sum.Kind() != kind.Temporary {
		t.Errorf("aggregate kind %v, want temporary (a retry helps wx05)", sum.Kind())
	}
	if c := sum.Count(); c[kind.None] != 9 || c[kind.Config] != 2 || c[kind.Temporary] != 1 {
		t.Errorf("counts %v", c)
	}
}

// By default each account gets a source of its own; with
// AccountsPerSource, a source serves that many in a row.
func TestRunManySourcesPerAccount(t *testing.T) {
	for _, tc := range []struct{ per, wantLaunches int }{{0, 7}, {1, 7}, {3, 3}, {7, 1}} {
		dst := &multiDest{dests: map[string]*fakeDest{}}
		var accounts []Account
		for i := range 7 {
			accounts = append(accounts, Account{AppID: fmt.Sprintf("wx%d", i)})
		}
		var mu sync.Mutex
		launches, stops := 0, 0
		var reads [][]string
		cfg := ManyConfig{Parallel: 1, AccountsPerSource: tc.per, Dst: dst,
			Prepare: func(_ context.Context, a Account) (RunConfig, error) {
				return RunConfig{Streams: followers, SourceConfig: []byte(a.AppID)}, nil
			},
			Launch: func(context.Context) (Source, func(), error) {
				mu.Lock()
				defer mu.Unlock()
				launches++
				src := &accountSources{t: t, dst: dst}
				return src, func() { mu.Lock(); stops++; reads = append(reads, src.reads); mu.Unlock() }, nil
			},
		}
		if sum := RunMany(context.Background(), cfg, accounts); sum.Kind() != kind.None {
			t.Fatalf("per %d: kind %v", tc.per, sum.Kind())
		}
		if launches != tc.wantLaunches || stops != launches {
			t.Errorf("AccountsPerSource %d: %d launches, %d stops; want %d each (reads %v)", tc.per, launches, stops, tc.wantLaunches, reads)
		}
	}
}

// waitingSource is a Source whose Read of account first waits until gate
// is closed (failing the test after a minute).
type waitingSource struct {
	Source
	t       *testing.T
	account string
	gate    <-chan struct{}
}

func (w waitingSource) Read(ctx context.Context, config []byte, states []plugin.StreamState, h plugin.Host) (plugin.Messages, error) {
	if string(config) == w.account {
		select {
		case <-w.gate:
		case <-time.After(time.Minute):
			w.t.Errorf("%s: the next account's source was not launched while this one ran", w.account)
		}
	}
	return w.Source.Read(ctx, config, states, h)
}

// launches counts a test's Launch calls and the stops of what they
// launched; launch returns a Launch of the sources src makes (n: the
// launch's number, from 1).
type launches struct {
	mu            sync.Mutex
	started, stop int
}

func (l *launches) launch(src func(n int) Source) func(context.Context) (Source, func(), error) {
	return func(context.Context) (Source, func(), error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.started++
		return src(l.started), func() { l.mu.Lock(); l.stop++; l.mu.Unlock() }, nil
	}
}

// With one account a source, the next account's source is launched while
// the current account runs, and no launch goes unused.
func TestRunManyLaunchesTheNextSourceAhead(t *testing.T) {
	dst := &multiDest{dests: map[string]*fakeDest{}}
	accounts := []Account{{AppID: "wx0"}, {AppID: "wx1"}, {AppID: "wx2"}}
	second := make(chan struct{})
	var l launches
	cfg := ManyConfig{Parallel: 1, Dst: dst,
		Prepare: func(_ context.Context, a Account) (RunConfig, error) {
			return RunConfig{Streams: followers, SourceConfig: []byte(a.AppID)}, nil
		},
		Launch: l.launch(func(n int) Source {
			if n == 2 {
				close(second)
			}
			return waitingSource{Source: &accountSources{t: t, dst: dst}, t: t, account: "wx0", gate: second}
		}),
	}
	if sum := RunMany(context.Background(), cfg, accounts); sum.Kind() != kind.None {
		t.Fatalf("kind %v", sum.Kind())
	}
	if l.started != 3 || l.stop != 3 {
		t.Errorf("%d launches, %d stops; want 3 each (one per account, none wasted)", l.started, l.stop)
	}
}

// cancellingSource is a Source that calls cancel as it starts reading
// account.
type cancellingSource struct {
	Source
	account string
	cancel  func()
}

func (c cancellingSource) Read(ctx context.Context, config []byte, states []plugin.StreamState, h plugin.Host) (plugin.Messages, error) {
	if string(config) == c.account {
		c.cancel()
	}
	return c.Source.Read(ctx, config, states, h)
}

func TestRunManyCancelledStartsNoMore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dst := &multiDest{dests: map[string]*fakeDest{}}
	accounts := []Account{{AppID: "wxA"}, {AppID: "wxB"}, {AppID: "wxC"}}
	var l launches
	cfg := ManyConfig{Parallel: 1, Dst: dst,
		Prepare: func(_ context.Context, a Account) (RunConfig, error) {
			return RunConfig{Streams: followers, SourceConfig: []byte(a.AppID)}, nil
		},
		// A signal comes while wxA is read, once wxB was taken ahead and
		// its source launched.
		Launch: l.launch(func(int) Source {
			return cancellingSource{Source: &accountSources{t: t, dst: dst}, account: "wxA", cancel: cancel}
		}),
	}
	sum := RunMany(ctx, cfg, accounts)
	if l.started != 2 || l.stop != l.started {
		t.Errorf("%d sources launched, %d stopped; want 2 (wxA's, and wxB's launched ahead), both stopped", l.started, l.stop)
	}
	started := 0
	for _, r := range sum.Results {
		if r.Started {
			started++
		} else if !errors.Is(r.Err, ErrNotStarted) {
			t.Errorf("%s: not started with err %v", r.Account.AppID, r.Err)
		}
	}
	if started != 1 || len(dst.runs) != 1 || sum.Kind() != kind.Temporary {
		t.Errorf("started %d, records %d, kind %v; want 1, 1, temporary", started, len(dst.runs), sum.Kind())
	}
}

func TestSummaryKindPrecedence(t *testing.T) {
	res := func(ks ...kind.Kind) Summary {
		var s Summary
		for _, k := range ks {
			var err error
			if k != kind.None {
				err = kind.Mark(k, errors.New("x"))
			}
			s.Results = append(s.Results, AccountResult{Started: true, Err: err})
		}
		return s
	}
	for _, tc := range []struct {
		s    Summary
		want int
	}{
		{res(kind.None, kind.None), 0},
		{res(kind.None, kind.Config), 78},
		{res(kind.Config, kind.Temporary), 75},
		{res(kind.Internal, kind.Config), 1},
		{res(kind.Internal, kind.Temporary, kind.Config), 75},
	} {
		if got := tc.s.Kind().ExitCode(); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.s.Count(), got, tc.want)
		}
	}
}

func TestShardsCoverEachAccountOnceAndMoveFew(t *testing.T) {
	var accounts []Account
	for i := range 1000 {
		accounts = append(accounts, Account{AppID: fmt.Sprintf("wx%016x", i*7919)})
	}
	owner := map[string]int{}
	for i := range 4 {
		sh, err := ParseShard(fmt.Sprintf("%d/4", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := sh.Select(accounts)
		if len(got) < 200 || len(got) > 300 {
			t.Errorf("shard %v holds %d of 1000", sh, len(got))
		}
		for _, a := range got {
			if prev, dup := owner[a.AppID]; dup {
				t.Fatalf("%s in shards %d and %d", a.AppID, prev, i)
			}
			owner[a.AppID] = i
		}
	}
	if len(owner) != 1000 {
		t.Fatalf("shards cover %d of 1000", len(owner))
	}
	moved := 0
	for _, a := range accounts {
		if ShardOf(a.AppID, 5) != owner[a.AppID] {
			moved++
		}
	}
	if moved > 260 { // 1/5 expected; a mod-N hash would move 4/5
		t.Errorf("4 → 5 workers moved %d of 1000 accounts", moved)
	}
	env := func(k string) (string, bool) { return map[string]string{"JOB_COMPLETION_INDEX": "2"}[k], true }
	if sh, err := ParseShard("index/4", env); err != nil || sh != (Shard{2, 4}) {
		t.Errorf("index/4 = %v, %v", sh, err)
	}
	for _, bad := range []string{"4/4", "-1/2", "1", "a/b", "0/0"} {
		if _, err := ParseShard(bad, env); kind.Of(err) != kind.Usage {
			t.Errorf("ParseShard(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestParseAccountsResolvesSecretReferences(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("file-secret-SHH\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"A_SECRET": "env-secret-SHH", "BEARER": "bearer-SHH", "COMP": "comp-SHH", "RT": "rt-SHH"}[k]
		return v, ok
	}
	list := `{
	  "token_services": {"central": {"url": "https://tokens.internal/token", "bearer_env": "BEARER"}},
	  "platforms": {"agency": {"component_appid": "wxcomp", "component_secret_env": "COMP"}},
	  "accounts": [
	    {"appid": "wxa", "secret_env": "A_SECRET"},
	    {"appid": "wxb", "secret_file": "` + file + `"},
	    {"appid": "wxc", "token_service": "central"},
	    {"appid": "wxd", "platform": "agency", "refresh_token_env": "RT"}
	  ]}`
	got, err := ParseAccounts([]byte(list), env)
	if err != nil {
		t.Fatal(err)
	}
	want := []Account{
		{AppID: "wxa", Source: SourceSecret, Secret: "env-secret-SHH"},
		{AppID: "wxb", Source: SourceSecret, Secret: "file-secret-SHH"},
		{AppID: "wxc", Source: SourceService, ServiceURL: "https://tokens.internal/token", ServiceBearer: "bearer-SHH"},
		{AppID: "wxd", Source: SourcePlatform, ComponentAppID: "wxcomp", ComponentSecret: "comp-SHH", RefreshToken: "rt-SHH"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("accounts:\n%#v\nwant\n%#v", got, want)
	}
	if s := fmt.Sprintf("%v %+v %#v", got, got, got); strings.Contains(s, "SHH") {
		t.Errorf("an account prints a secret: %s", s)
	}
	bad := `{"platforms": {"agency": {"component_appid": "wxcomp", "component_secret_env": "COMP"}},
	  "accounts": [{"appid": "wxa", "secret_env": "UNSET"}, {"appid": "wxa", "secret_env": "A_SECRET"},
	  {"appid": "wxd", "platform": "agency"}, {"appid": "wxe", "token_service": "nowhere"}, {"secret_env": "A_SECRET"}]}`
	_, err = ParseAccounts([]byte(bad), env)
	if kind.Of(err) != kind.Config {
		t.Fatalf("err = %v, want a config error", err)
	}
	for _, want := range []string{"UNSET, which is not set", "appid listed twice", "refresh_token_env or refresh_token_file is required", `token_service "nowhere"`, "appid is missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "SHH") {
		t.Error("an error shows a secret")
	}
	if _, err := ParseAccounts([]byte(`{"accounts": [{"appid": "wxa", "secret": "inline"}]}`), env); err == nil {
		t.Error("an inline secret (unknown field) was accepted")
	}
}

// memStore is a CredentialStore in memory.
type memStore struct{ m map[string]sink.Credential }

func (s *memStore) SaveCredential(_ context.Context, owner, name string, c sink.Credential) error {
	s.m[owner+"/"+name] = c
	return nil
}
func (s *memStore) LoadCredential(_ context.Context, owner, name string) (sink.Credential, bool, error) {
	c, ok := s.m[owner+"/"+name]
	return c, ok, nil
}

func TestCredentialsSealedTicketAgeAndKeeper(t *testing.T) {
	sealer, err := ParseSealerKey(strings.Repeat("ab", 32) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ParseSealerKey(strings.Repeat("cd", 32))
	store := &memStore{m: map[string]sink.Credential{}}
	ctx := context.Background()
	now := time.Now()
	if _, err := LoadTicket(ctx, store, sealer, "wxcomp", now); kind.Of(err) != kind.Config || !strings.Contains(err.Error(), "wxsync listen") {
		t.Errorf("no ticket: %v", err)
	}
	if err := StoreTicket(ctx, store, sealer, "wxcomp", "ticket@@@SHH", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	// '@' is not in base64's alphabet: only a ticket stored in clear holds
	// it (a part such as "SHH" turns up in base64 now and then).
	if strings.Contains(string(store.m["wxcomp/"+sink.CredentialVerifyTicket].Sealed), "ticket@@@") {
		t.Error("the ticket is stored in clear")
	}
	if got, err := LoadTicket(ctx, store, sealer, "wxcomp", now); err != nil || got != "ticket@@@SHH" {
		t.Errorf("LoadTicket = %q, %v", got, err)
	}
	if _, err := LoadTicket(ctx, store, other, "wxcomp", now); kind.Of(err) != kind.Config {
		t.Errorf("another key opened the ticket: %v", err)
	}
	if _, err := LoadTicket(ctx, store, sealer, "wxcomp", now.Add(13*time.Hour)); kind.Of(err) != kind.Config {
		t.Errorf("a 13-hour-old ticket: %v, want a config error", err)
	}
	// A sealed value moved to another row does not open.
	store.m["wxother/"+sink.CredentialVerifyTicket] = store.m["wxcomp/"+sink.CredentialVerifyTicket]
	if _, err := LoadTicket(ctx, store, sealer, "wxother", now); err == nil {
		t.Error("a ticket sealed for another platform opened")
	}
	k := &Keeper{Store: store, Sealer: sealer}
	if err := k.KeepRefreshToken(ctx, "wxd", "rt-new-SHH"); err != nil {
		t.Fatal(err)
	}
	if tok, ok, err := LoadRefreshToken(ctx, store, sealer, "wxd"); err != nil || !ok || tok != "rt-new-SHH" {
		t.Errorf("LoadRefreshToken = %q, %v, %v", tok, ok, err)
	}
	if _, err := ParseSealerKey("short"); kind.Of(err) != kind.Config {
		t.Errorf("short key: %v", err)
	}
}

// blockingRuns is a Destination whose first RecordRuns waits for release;
// it keeps each call's run ids.
type blockingRuns struct {
	Destination
	entered, release chan struct{}
	calls            [][]string
	fail             error
}

func (b *blockingRuns) RecordRuns(_ context.Context, runs []sink.Run) error {
	if len(b.calls) == 0 {
		close(b.entered)
		<-b.release
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	b.calls = append(b.calls, ids)
	return b.fail
}

// Without a linger, the recorder writes a record as soon as it has one,
// and every record that finished while that insert ran goes in the next
// insert together;
// each result gets the insert's error and is passed to Done once, in order.
func TestRecorderGroupsRecordsWhileAnInsertRuns(t *testing.T) {
	dst := &blockingRuns{entered: make(chan struct{}), release: make(chan struct{}), fail: errors.New("clickhouse: timeout")}
	results := make([]AccountResult, 3)
	for i := range results {
		results[i] = AccountResult{Account: Account{AppID: fmt.Sprint("wx", i)}, Started: true, Record: sink.Run{ID: fmt.Sprint("r", i)}}
	}
	var done []string
	cfg := &ManyConfig{Dst: dst, RecordLinger: -1, Done: func(r AccountResult) {
		if r.RecordErr == nil {
			t.Errorf("%s: Done before its record's error was known", r.Account.AppID)
		}
		done = append(done, r.Account.AppID)
	}}
	rec := newRecorder(context.Background(), cfg, results)
	rec.record(0)
	<-dst.entered
	rec.record(1)
	rec.record(2)
	close(dst.release)
	rec.close()
	if want := [][]string{{"r0"}, {"r1", "r2"}}; !reflect.DeepEqual(dst.calls, want) {
		t.Errorf("inserts %v, want %v", dst.calls, want)
	}
	if want := []string{"wx0", "wx1", "wx2"}; !slices.Equal(done, want) {
		t.Errorf("Done for %v, want %v", done, want)
	}
	for _, r := range results {
		if !errors.Is(r.RecordErr, dst.fail) {
			t.Errorf("%s: RecordErr %v", r.Account.AppID, r.RecordErr)
		}
	}
}

// notedRuns is a Destination that keeps the run ids of each RecordRuns
// call and signals each on inserted.
type notedRuns struct {
	Destination
	mu       sync.Mutex
	calls    [][]string
	inserted chan struct{}
}

func (n *notedRuns) RecordRuns(_ context.Context, runs []sink.Run) error {
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	n.mu.Lock()
	n.calls = append(n.calls, ids)
	n.mu.Unlock()
	n.inserted <- struct{}{}
	return nil
}

// recorderResults are n results with records r0, r1, ...
func recorderResults(n int) []AccountResult {
	results := make([]AccountResult, n)
	for i := range results {
		results[i] = AccountResult{Account: Account{AppID: fmt.Sprint("wx", i)}, Started: true, Record: sink.Run{ID: fmt.Sprint("r", i)}}
	}
	return results
}

// With a linger, records that finish after the first one waits go in its
// insert; the end of the list does not wait the linger out (an hour here:
// close would hang).
func TestRecorderLingersForMoreRecords(t *testing.T) {
	dst := &notedRuns{inserted: make(chan struct{}, 10)}
	results := recorderResults(3)
	var done []string
	rec := newRecorder(context.Background(), &ManyConfig{Dst: dst, RecordLinger: time.Hour, Done: func(r AccountResult) {
		done = append(done, r.Account.AppID)
	}}, results)
	for i := range results {
		rec.record(i)
	}
	rec.close()
	if want := [][]string{{"r0", "r1", "r2"}}; !reflect.DeepEqual(dst.calls, want) {
		t.Errorf("inserts %v, want %v", dst.calls, want)
	}
	if want := []string{"wx0", "wx1", "wx2"}; !slices.Equal(done, want) {
		t.Errorf("Done for %v, want %v", done, want)
	}
}

// Once a signal has come, records are written at once, each finished
// account's without waiting for others.
func TestRecorderWritesAtOnceAfterASignal(t *testing.T) {
	dst := &notedRuns{inserted: make(chan struct{}, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := newRecorder(ctx, &ManyConfig{Dst: dst, RecordLinger: time.Hour}, recorderResults(2))
	rec.record(0)
	<-dst.inserted // no linger: it does not wait for record 1, or for close
	rec.record(1)
	<-dst.inserted
	rec.close()
	if want := [][]string{{"r0"}, {"r1"}}; !reflect.DeepEqual(dst.calls, want) {
		t.Errorf("inserts %v, want %v", dst.calls, want)
	}
}
