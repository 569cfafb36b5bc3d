package main

// The durable floor of the listen benchmark: what storing each event in
// ClickHouse before answering costs on this machine, with nothing of
// wxsync's process split. The floor's handler (push.Verifier) feeds
// connector/receiver's group commit, whose commits build the plugin's Arrow
// record and insert it with sink.Insert, all in the benchmark's process: no
// plugin, no gRPC, no second process. At the most senders it is run with
// several group-commit settings, so that the best any of them reaches says
// what a receiver that commits before it answers can reach here.

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/connector/push"
	pushreceiver "github.com/wxsync/wxsync/connector/receiver"
	"github.com/wxsync/wxsync/connector/source"
	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// groupCommit is one group-commit setting of the durable floor.
type groupCommit struct {
	Name       string
	Committers int
	Linger     time.Duration // negative: none (a free committer takes what is queued at once)
}

// benchGroupCommits are the settings tried at the most senders; the first
// is connector/receiver's default (and `wxsync listen`'s), the only one
// tried with fewer senders.
var benchGroupCommits = []groupCommit{
	{"default: 2 committers, 100 ms linger", pushreceiver.DefaultCommitters, pushreceiver.DefaultMaxLinger},
	{"1 committer", 1, pushreceiver.DefaultMaxLinger},
	{"2 committers, no linger", 2, -1},
	{"4 committers, no linger", 4, -1},
}

// benchListenDurableFloor runs the durable floor with gc against a fresh
// database, then checks that every acknowledged event is in
// wechat_follow_events.
func benchListenDurableFloor(b *testing.B, senders, events int, gc groupCommit) listenRun {
	b.StopTimer()
	e := newEnv(b, wxsim.DefaultOptions())
	ctx := context.Background()
	if err := e.sink.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	logged := sinktest.OpenLogged(b, e.sink, sink.Config{})
	pushes, origID := benchSealPushes(b, e, benchListenWarmup+events)
	v, err := push.NewVerifier(push.Config{Token: listenToken, AppID: e.sim.Options().AppID, AESKey: listenAESKey,
		OriginalID: origID, Window: 5 * time.Minute, MaxBody: 64 << 10})
	if err != nil {
		b.Fatal(err)
	}
	st, appid := schema.FollowEventsStream(), e.sim.Options().AppID
	var failed atomic.Int64
	commit := pushreceiver.CommitFunc(func(ctx context.Context, evs []pushreceiver.Event) error {
		rec := source.EventRecord(evs)
		defer rec.Release()
		_, err := logged.Insert(ctx, st, appid, 0, []arrow.Record{rec})
		if err != nil {
			failed.Add(1)
		}
		return err
	})
	rcv, err := pushreceiver.New(pushreceiver.Config{Verifier: v, Committers: gc.Committers, MaxLinger: gc.Linger}, commit)
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { rcv.Run(runCtx); close(ran) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	loadStart := time.Now()
	r := benchListenLoad(b, "http://"+ln.Addr().String()+"/wechat", pushes, senders)
	_ = srv.Close()
	rcv.Close()
	<-ran
	stop()
	benchInsertStats(b, e, loadStart, &r)
	if r.Failed > 0 || failed.Load() > 0 {
		b.Fatalf("durable floor (%s) at %d senders: %d pushes not answered success, %d commits failed", gc.Name, senders, r.Failed, failed.Load())
	}
	want := strconv.Itoa(benchListenWarmup + r.Events)
	if got := e.query("SELECT count() AS x FROM {db}.wechat_follow_events FINAL WHERE appid = ?", appid); len(got) != 1 || got[0] != want {
		b.Fatalf("durable floor: wechat_follow_events FINAL holds %v events, %s were acknowledged", got, want)
	}
	b.Logf("durable floor (%s), %d senders: %d events in %.2fs = %.0f events/s; p50 %v p99 %v; %d inserts of %.0f rows, p50 %v p99 %v; load %.2f",
		gc.Name, senders, r.Events, r.Wall.Seconds(), r.rate(), r.P50, r.P99, r.Groups, r.GroupRows, r.InsertP50, r.InsertP99, r.Load)
	benchDropDatabase(b, e, e.sink.Database())
	return r
}
