package main

// The benchmark of `wxsync listen` (issue 10, point 9): follow events pushed
// in safe mode by N concurrent senders, committed and acknowledged by the
// real host and plugin, beside the floor: a minimal in-process receiver that
// checks, decrypts and parses each push and answers "success" without
// storing it; and beside the durable floor (bench_listen_inproc_test.go),
// which also commits each event before answering, in one process. All meet
// the same load generator, in the same run.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/push"
	pushreceiver "github.com/wxsync/wxsync/connector/receiver"
	"github.com/wxsync/wxsync/connector/wxsim"
)

// benchListenSenders are the concurrent senders measured; the targets are
// stated for the last.
var benchListenSenders = []int{10, 100, 500}

// Targets at the largest sender count, and the shape of the load.
const (
	benchListenFloorRatio = 0.8                    // durable events/s at least this × the floor's
	benchListenP99        = 500 * time.Millisecond // p99 acknowledgement latency below this
	benchListenRSSMiB     = 200.0                  // peak RSS of the host and of the plugin below this
	benchListenEvents     = 30_000                 // events timed per receiver and round at the most senders (scaled down with fewer)
	benchListenMinEvents  = 3_000                  // events timed at least
	benchListenWarmup     = 2_000                  // events sent untimed first (connections, tables, JIT of the caches)
	benchListenRounds     = 2                      // rounds of (floor, durable); the best events/s of each counts
)

// listenRun is one timed load against one receiver.
type listenRun struct {
	Events       int           // pushes answered "success"
	Failed       int           // pushes answered anything else
	Wall         time.Duration // first request sent to last answer read
	P50, P99     time.Duration // acknowledgement latency, as the sender saw it
	HostPeakKB   int64         // durable only: VmHWM of the host
	PluginPeakKB int64         // durable only: VmHWM of the plugin
	HostCPU      time.Duration // durable only: CPU time of the host during the load
	PluginCPU    time.Duration // durable only: CPU time of the plugin during the load
	Load         float64       // 1-minute load average just before the load
	Groups       int           // durable only: INSERTs of follow events during the load (system.query_log)
	GroupRows    float64       // durable only: their mean rows
	InsertP50    time.Duration // durable only: their median query_duration_ms
	InsertP99    time.Duration // durable only: their 99th percentile
	InsertCPU    time.Duration // durable only: ClickHouse's CPU (user+system) for those INSERTs
	ProcCPU      time.Duration // the benchmark process's CPU during the timed load: the load generator, and the receiver when it runs in-process
	MachineCPU   time.Duration // every process's CPU during the timed load (/proc/stat), ClickHouse's merges included
}

func (r listenRun) rate() float64 { return float64(r.Events) / r.Wall.Seconds() }

// listenLevel is every round at one sender count.
type listenLevel struct {
	Senders int
	Events  int         // timed per run
	Floor   []listenRun // the floor
	// InProc are the durable floor's runs by benchGroupCommits index: the
	// default setting at every sender count, every setting at the most.
	InProc  [][]listenRun
	Durable []listenRun // `wxsync listen`, default settings
	Bare    []listenRun // at the most senders only: `wxsync listen` without fetching new followers' profiles
}

// best returns the run with the highest events/s.
func benchListenBest(runs []listenRun) listenRun {
	best := runs[0]
	for _, r := range runs[1:] {
		if r.rate() > best.rate() {
			best = r
		}
	}
	return best
}

// BenchmarkListen measures the floor and `wxsync listen` at each of
// benchListenSenders (`make bench-listen`, part of `make bench`); with
// WXSYNC_BENCH_OUT set it writes its section of docs/benchmarks.md.
func BenchmarkListen(b *testing.B) {
	events := benchListenEvents
	if s := os.Getenv("WXSYNC_BENCH_LISTEN_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("WXSYNC_BENCH_LISTEN_EVENTS %q: want a positive number", s)
		}
		events = v
	}
	var levels []listenLevel
	for _, n := range benchListenSenders {
		b.Run(fmt.Sprintf("senders=%d", n), func(b *testing.B) {
			top := n == benchListenSenders[len(benchListenSenders)-1]
			lv := listenLevel{Senders: n, Events: max(benchListenMinEvents, events*n/benchListenSenders[len(benchListenSenders)-1])}
			settings := benchGroupCommits[:1]
			if top {
				settings = benchGroupCommits
			}
			lv.InProc = make([][]listenRun, len(settings))
			for range benchListenRounds {
				lv.Floor = append(lv.Floor, benchListenFloor(b, n, lv.Events))
				for i, gc := range settings {
					lv.InProc[i] = append(lv.InProc[i], benchListenDurableFloor(b, n, lv.Events, gc))
				}
				lv.Durable = append(lv.Durable, benchListenDurable(b, n, lv.Events, true))
				if top {
					lv.Bare = append(lv.Bare, benchListenDurable(b, n, lv.Events, false))
				}
			}
			f, d := benchListenBest(lv.Floor), benchListenBest(lv.Durable)
			b.ReportMetric(d.rate(), "events/s")
			b.ReportMetric(f.rate(), "floor_events/s")
			b.ReportMetric(float64(d.P99.Microseconds())/1000, "p99_ms")
			b.ReportMetric(benchMiB(d.HostPeakKB), "host_peak_MB")
			b.ReportMetric(benchMiB(d.PluginPeakKB), "plugin_peak_MB")
			levels = append(levels, lv)
		})
	}
	out := os.Getenv("WXSYNC_BENCH_OUT")
	if out == "" || b.Failed() || len(levels) != len(benchListenSenders) {
		return
	}
	if err := benchSplice(out, "BenchmarkListen", benchListenReport(levels, events)); err != nil {
		b.Fatalf("write %s: %v", out, err)
	}
	b.Logf("wrote the listen section of %s", out)
}

// sealedPush is one push ready to send: its signed query and its body.
type sealedPush struct {
	query string
	body  []byte
}

// benchSealPushes makes n changes to e's account through a wxsim Pusher and
// seals each in safe mode, as WeChat would send it, before any timing.
func benchSealPushes(b *testing.B, e *env, n int) ([]sealedPush, string) {
	o := wxsim.DefaultPushOptions()
	o.URL, o.Mode, o.Token, o.AESKey = "http://127.0.0.1:1/unused", push.ModeSafe, listenToken, listenAESKey
	p, err := e.sim.NewPusher(o)
	if err != nil {
		b.Fatal(err)
	}
	key, err := push.ParseKey(listenAESKey)
	if err != nil {
		b.Fatal(err)
	}
	snd := push.Sender{Mode: push.ModeSafe, Token: listenToken, Key: key, AppID: e.sim.Options().AppID, Random: rand.Reader}
	out := make([]sealedPush, n)
	now := time.Now().Unix()
	for i := range out {
		_, msg := p.Change()
		msg.Mode = push.ModeSafe
		q, body, err := snd.Seal(push.EncodeEvent(msg), now, strconv.Itoa(1_000_000+i), msg.OpenID)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = sealedPush{query: q.Encode(), body: body}
	}
	return out, p.OriginalID()
}

// benchFire sends every push to target from senders goroutines that share
// one keep-alive HTTP client, each taking the next push as soon as its
// previous one is answered; it returns the answers and latencies.
func benchFire(client *http.Client, target string, pushes []sealedPush, senders int) (listenRun, error) {
	var next atomic.Int64
	lat := make([]time.Duration, len(pushes))
	okAt := make([]bool, len(pushes))
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(pushes) {
					return
				}
				t0 := time.Now()
				ok, err := benchSend(client, target+"?"+pushes[i].query, pushes[i].body)
				lat[i], okAt[i] = time.Since(t0), ok
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	r := listenRun{Wall: time.Since(start)}
	close(errs)
	if err := <-errs; err != nil {
		return r, err
	}
	for _, ok := range okAt {
		if ok {
			r.Events++
		} else {
			r.Failed++
		}
	}
	slices.Sort(lat)
	r.P50, r.P99 = lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
	return r, nil
}

// benchSend posts one push and reads the answer: true for HTTP 200
// "success"; an error only when there was no answer at all.
func benchSend(client *http.Client, u string, body []byte) (bool, error) {
	resp, err := client.Post(u, "text/xml", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK && string(answer) == "success", nil
}

// benchListenClient is the load generator's client: a connection per
// sender, kept alive between its pushes.
func benchListenClient(senders int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: senders + 16, MaxIdleConnsPerHost: senders + 16, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}

// benchListenLoad warms up target with the first benchListenWarmup pushes,
// then times the rest.
func benchListenLoad(b *testing.B, target string, pushes []sealedPush, senders int) listenRun {
	client := benchListenClient(senders)
	defer client.CloseIdleConnections()
	warm, err := benchFire(client, target, pushes[:benchListenWarmup], senders)
	if err != nil || warm.Failed > 0 {
		b.Fatalf("warm-up against %s: %d failed, error %v", target, warm.Failed, err)
	}
	load := benchLoadAvg()
	cpu0, machine0 := benchSelfCPU(b), benchMachineCPU(b)
	b.StartTimer()
	r, err := benchFire(client, target, pushes[benchListenWarmup:], senders)
	b.StopTimer()
	if err != nil {
		b.Fatalf("load against %s at %d senders: %v", target, senders, err)
	}
	r.Load, r.ProcCPU, r.MachineCPU = load, benchSelfCPU(b)-cpu0, benchMachineCPU(b)-machine0
	return r
}

// benchListenFloor runs the floor: an http.Server in this process whose
// handler checks, decrypts and parses each push with connector/push and
// answers "success", storing nothing.
func benchListenFloor(b *testing.B, senders, events int) listenRun {
	b.StopTimer()
	e := newSimEnv(b, wxsim.DefaultOptions())
	pushes, origID := benchSealPushes(b, e, benchListenWarmup+events)
	v, err := push.NewVerifier(push.Config{Token: listenToken, AppID: e.sim.Options().AppID, AESKey: listenAESKey,
		OriginalID: origID, Window: 5 * time.Minute, MaxBody: 64 << 10})
	if err != nil {
		b.Fatal(err)
	}
	var bad atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.ReadRequest(r); err != nil {
			bad.Add(1)
			http.Error(w, "rejected", http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "success")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	r := benchListenLoad(b, "http://"+ln.Addr().String()+"/wechat", pushes, senders)
	if r.Failed > 0 || bad.Load() > 0 {
		b.Fatalf("floor at %d senders: %d pushes not answered success (%d rejected)", senders, r.Failed, bad.Load())
	}
	b.Logf("floor, %d senders: %d events in %.2fs = %.0f events/s; p50 %v p99 %v; load %.2f",
		senders, r.Events, r.Wall.Seconds(), r.rate(), r.P50, r.P99, r.Load)
	return r
}

// benchListenDurable runs `wxsync listen` (host and plugin, a fresh
// database), loads it, then checks that every acknowledged event is in
// wechat_follow_events and that SIGTERM ends it with exit 0.
func benchListenDurable(b *testing.B, senders, events int, profiles bool) listenRun {
	b.StopTimer()
	e := newEnv(b, wxsim.DefaultOptions())
	pushes, origID := benchSealPushes(b, e, benchListenWarmup+events)
	rc := e.newReceiver(b)
	p := rc.start("WECHAT_ORIGINAL_ID="+origID, "CLICKHOUSE_DSN="+benchLogQueries(e.dsn), "WXSYNC_LISTEN_PROFILES="+strconv.FormatBool(profiles))
	host := p.cmd.Process.Pid
	plugin := benchPluginChild(host)
	if plugin == 0 {
		b.Fatalf("no plugin child of the host (pid %d)", host)
	}
	_, hostCPU0, _ := benchProcSample(host)
	_, pluginCPU0, _ := benchProcSample(plugin)
	loadStart := time.Now()
	r := benchListenLoad(b, rc.url(), pushes, senders)
	hostKB, hostCPU1, ok1 := benchProcSample(host)
	pluginKB, pluginCPU1, ok2 := benchProcSample(plugin)
	if !ok1 || !ok2 {
		b.Fatalf("the host or its plugin is gone; output:\n%s", p.out.String())
	}
	r.HostPeakKB, r.PluginPeakKB = hostKB, pluginKB
	r.HostCPU, r.PluginCPU = hostCPU1-hostCPU0, pluginCPU1-pluginCPU0
	rc.stop()
	benchInsertStats(b, e, loadStart, &r)
	if r.Failed > 0 {
		b.Fatalf("durable at %d senders: %d pushes not answered success", senders, r.Failed)
	}
	want := strconv.Itoa(benchListenWarmup + r.Events)
	if got := e.query("SELECT count() AS x FROM {db}.wechat_follow_events FINAL WHERE appid = ?", e.sim.Options().AppID); len(got) != 1 || got[0] != want {
		b.Fatalf("wechat_follow_events FINAL holds %v events, %s were acknowledged", got, want)
	}
	b.Logf("durable (profiles %t), %d senders: %d events in %.2fs = %.0f events/s; p50 %v p99 %v; host %.1f MiB %.2fs CPU, plugin %.1f MiB %.2fs CPU; %d inserts of %.0f rows, p50 %v p99 %v; load %.2f",
		profiles, senders, r.Events, r.Wall.Seconds(), r.rate(), r.P50, r.P99, benchMiB(r.HostPeakKB), r.HostCPU.Seconds(),
		benchMiB(r.PluginPeakKB), r.PluginCPU.Seconds(), r.Groups, r.GroupRows, r.InsertP50, r.InsertP99, r.Load)
	benchDropDatabase(b, e, e.sink.Database())
	return r
}

// benchMs formats a latency in milliseconds.
func benchMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// benchListenReport renders the listen section of docs/benchmarks.md.
func benchListenReport(levels []listenLevel, events int) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	p("%s\n## Listen: follow events acknowledged after their commit\n\n", benchBegin("BenchmarkListen"))
	p("Written by `BenchmarkListen` (`cmd/wxsync/bench_listen_test.go`, `make bench-listen`, part of `make bench`) on\n")
	p("%s, on the machine above (wxsync %s).\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), benchRevision())
	p("| senders | events timed | receiver | events/s | × floor | ack p50 | ack p99 | host peak RSS | plugin peak RSS | host CPU | plugin CPU | inserts (mean rows; p50/p99 server time) | load before |\n")
	p("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, lv := range levels {
		f := benchListenBest(lv.Floor)
		p("| %d | %s | floor | %.0f | 1 | %s | %s | (in the benchmark's process) | | | | | %.2f |\n", lv.Senders, benchThousands(lv.Events), f.rate(), benchMs(f.P50), benchMs(f.P99), f.Load)
		for i, runs := range lv.InProc {
			d := benchListenBest(runs)
			p("| %d | %s | durable floor, %s | %.0f | %.2f | %s | %s | (in the benchmark's process) | | | | %d (%.0f; %s/%s) | %.2f |\n", lv.Senders, benchThousands(lv.Events),
				benchGroupCommits[i].Name, d.rate(), d.rate()/f.rate(), benchMs(d.P50), benchMs(d.P99), d.Groups, d.GroupRows, benchMs(d.InsertP50), benchMs(d.InsertP99), d.Load)
		}
		benchListenRow(p, lv, "`wxsync listen`", benchListenBest(lv.Durable), f)
		if len(lv.Bare) > 0 {
			benchListenRow(p, lv, "`wxsync listen`, profiles off", benchListenBest(lv.Bare), f)
		}
	}
	p("\nEvery round, events/s (1-minute load average before it):\n\n")
	for _, lv := range levels {
		p("- %d senders: floor %s; `wxsync listen` %s", lv.Senders, benchListenRates(lv.Floor), benchListenRates(lv.Durable))
		for i, runs := range lv.InProc {
			p("; durable floor (%s) %s", benchGroupCommits[i].Name, benchListenRates(runs))
		}
		if len(lv.Bare) > 0 {
			p("; profiles off %s", benchListenRates(lv.Bare))
		}
		p("\n")
	}
	benchListenTargets(p, levels[len(levels)-1])
	p("\n### How measured\n\n")
	p("- Each round and sender count uses a fresh wxsim account and, for `wxsync listen`, a fresh database.\n")
	p("  Before any timing, a wxsim `Pusher` makes %s + the timed changes to the account (mix 6:3:1 of\n", benchThousands(benchListenWarmup))
	p("  subscribe, unsubscribe, SCAN) and each is sealed in safe mode (AES-256-CBC, `msg_signature`) with\n")
	p("  `push.Sender`, as WeChat sends it. The first %s are sent untimed (connections opened, tables\n", benchThousands(benchListenWarmup))
	p("  warm); the rest are timed: %s at %d senders, proportionally fewer (at least %s) with fewer senders.\n",
		benchThousands(events), benchListenSenders[len(benchListenSenders)-1], benchThousands(benchListenMinEvents))
	p("- The load generator runs in the benchmark's process: N goroutines share one `http.Client` that keeps a\n")
	p("  connection per sender alive; each sends its next push as soon as its previous one is answered.\n")
	p("  events/s = pushes answered `success` / wall time from the first request to the last answer.\n")
	p("  Latency is the sender's, request sent to answer read. Any push not answered `success` fails the\n")
	p("  benchmark; so does `wechat_follow_events FINAL` not holding exactly the acknowledged events.\n")
	p("- **Floor**: an `http.Server` in the benchmark's process whose handler runs `push.Verifier.ReadRequest`\n")
	p("  (body limit, signatures, replay window, decryption, padding, appid, XML) and answers `success`,\n")
	p("  storing nothing. It shares the process, and so the cores, with the load generator.\n")
	p("- **Durable floor**: the floor's handler feeding `connector/receiver` (the plugin's group commit), whose\n")
	p("  commits build the plugin's Arrow record (`source.EventRecord`) and insert it with `sink.Insert` into a\n")
	p("  fresh database: everything `wxsync listen` does before it answers, in the benchmark's process, with\n")
	p("  no plugin process, no gRPC and no host. At %d senders it runs with each group-commit setting listed;\n", benchListenSenders[len(benchListenSenders)-1])
	p("  with fewer, with the default only. Its inserts are counted like `wxsync listen`'s.\n")
	p("- **`wxsync listen`**: the built host with its plugin, default settings (new followers' profiles\n")
	p("  fetched from wxsim, in the benchmark's process, too), ClickHouse of `CLICKHOUSE_DSN`; at %d senders\n", benchListenSenders[len(benchListenSenders)-1])
	p("  also with `WXSYNC_LISTEN_PROFILES=false`. Peak RSS is `VmHWM` read after the load;\n")
	p("  CPU is utime+stime of host and plugin over the timed load. It ends with SIGTERM and must exit 0.\n")
	p("  \"inserts\": the `INSERT`s of follow events from the warm-up's start on (its events included), from `system.query_log` (the\n")
	p("  host runs with `log_queries=1`): how many, their mean rows (the group size), their server-side\n")
	p("  duration at p50 and p99.\n")
	p("- Each is run %d times per sender count, interleaved (floor, durable floors, durable, ...); the best\n", benchListenRounds)
	p("  events/s of each counts, with its latencies. The machine is shared (2 cores, other work running):\n")
	p("  \"load before\" is the 1-minute load average just before the timed part.\n")
	p("%s\n", benchEnd("BenchmarkListen"))
	return s.String()
}

// benchListenRow renders one durable receiver's row.
func benchListenRow(p func(string, ...any), lv listenLevel, name string, d, f listenRun) {
	p("| %d | %s | %s | %.0f | %.2f | %s | %s | %.1f MiB | %.1f MiB | %.2f s | %.2f s | %d (%.0f; %s/%s) | %.2f |\n", lv.Senders, benchThousands(lv.Events), name,
		d.rate(), d.rate()/f.rate(), benchMs(d.P50), benchMs(d.P99), benchMiB(d.HostPeakKB), benchMiB(d.PluginPeakKB), d.HostCPU.Seconds(), d.PluginCPU.Seconds(),
		d.Groups, d.GroupRows, benchMs(d.InsertP50), benchMs(d.InsertP99), d.Load)
}

// benchListenRates lists the events/s of runs.
func benchListenRates(runs []listenRun) string {
	var s []string
	for _, r := range runs {
		s = append(s, fmt.Sprintf("%.0f (load %.2f)", r.rate(), r.Load))
	}
	return strings.Join(s, ", ")
}

// benchListenTargets judges the targets at the largest sender count.
func benchListenTargets(p func(string, ...any), lv listenLevel) {
	f, d := benchListenBest(lv.Floor), benchListenBest(lv.Durable)
	ratio := d.rate() / f.rate()
	p("\n### Targets at %d senders\n\n| target | measured | holds |\n|---|---|---|\n", lv.Senders)
	p("| events/s ≥ %.1f × the floor's | %.0f vs %.0f (× %.2f) | %s |\n", benchListenFloorRatio, d.rate(), f.rate(), ratio, benchYesNo(ratio >= benchListenFloorRatio))
	p("| acknowledgement p99 < %s | %s | %s |\n", benchMs(benchListenP99), benchMs(d.P99), benchYesNo(d.P99 < benchListenP99))
	p("| host peak RSS < %.0f MiB | %.1f MiB | %s |\n", benchListenRSSMiB, benchMiB(d.HostPeakKB), benchYesNo(benchMiB(d.HostPeakKB) < benchListenRSSMiB))
	p("| plugin peak RSS < %.0f MiB | %.1f MiB | %s |\n", benchListenRSSMiB, benchMiB(d.PluginPeakKB), benchYesNo(benchMiB(d.PluginPeakKB) < benchListenRSSMiB))
	p("\nLoad average before the timed load at %d senders: floor %.2f, durable %.2f.\n", lv.Senders, f.Load, d.Load)
	benchListenReach(p, lv, f, d)
	if d.Groups > 0 {
		// The inserts counted include the warm-up's; scale to the timed events.
		timed := float64(d.Groups) * float64(d.Events) / float64(d.Events+benchListenWarmup)
		cycle := time.Duration(float64(d.Wall) / timed)
		p("\nWhere the time goes: `success` waits for the event's commit, and the commits follow one another\n")
		p("(a second committer starts only after %v of linger, longer than a commit here). In the timed load, about\n", pushreceiver.DefaultMaxLinger)
		p("%.0f inserts of %.0f rows on average took %.2f s: a commit every %s, of which ClickHouse's own time is\n", timed, d.GroupRows, d.Wall.Seconds(), benchMs(cycle))
		p("%s at p50; the rest is the plugin's Arrow record, the gRPC call and the host's columns and driver\n", benchMs(d.InsertP50))
		p("round trips. An event arriving during a commit waits for it and then for its own, so with %d senders\n", lv.Senders)
		p("events/s ≈ senders / (2 × commit interval) = %.0f (measured %.0f). The floor answers without waiting for\n", float64(lv.Senders)/(2*cycle.Seconds()), d.rate())
		p("anything, so reaching %.1f × its rate would need a commit interval of about %s.\n",
			benchListenFloorRatio, benchMs(time.Duration(float64(lv.Senders)/(2*benchListenFloorRatio*f.rate())*float64(time.Second))))
	}
}

// benchListenReach says whether the events/s target is within the durable
// floor's reach: the best of its group-commit settings.
func benchListenReach(p func(string, ...any), lv listenLevel, f, d listenRun) {
	if len(lv.InProc) == 0 {
		return
	}
	best, name := listenRun{}, ""
	for i, runs := range lv.InProc {
		if r := benchListenBest(runs); name == "" || r.rate() > best.rate() {
			best, name = r, benchGroupCommits[i].Name
		}
	}
	ratio := best.rate() / f.rate()
	p("\n**Within reach here?** The durable floor does everything a receiver must do before it answers (check,\n")
	p("decrypt, parse, group commit, the Arrow record, the ClickHouse INSERT) in one process. Its best setting\n")
	p("(%s) reached %.0f events/s, %.2f × the floor", name, best.rate(), ratio)
	if ratio >= benchListenFloorRatio {
		p(": the %.1f × target is within its reach, and `wxsync listen`, at %.2f × the durable floor, loses the\n", benchListenFloorRatio, d.rate()/best.rate())
		p("difference in its process split (plugin, gRPC, host).\n")
		return
	}
	p("; no setting tried came within the %.1f × target.", benchListenFloorRatio)
	if ceiling, ok := benchListenCeiling(p, f, best); ok {
		if ceiling < benchListenFloorRatio {
			p(" So on this machine the CPU alone rules the target out for any receiver that commits each event\n")
			p("to ClickHouse before it answers, whatever its process layout.")
		} else {
			p(" So the CPU would allow the target only to a receiver with no cost of its own beyond the floor's.")
		}
	}
	p("\n`wxsync listen` reached %.2f × the durable floor; the rest of its gap is its process split (plugin, gRPC,\n", d.rate()/best.rate())
	p("host).\n")
}

// benchListenCeiling accounts for the CPU of the timed loads: the floor's
// own (load generator and handler, the benchmark's process) per event, and
// what storing cost beside the durable floor's process: every other
// process's CPU during its load (ClickHouse's queries and merges, and
// whatever else ran) per event. A receiver that spent nothing beyond those
// two, with every core busy all the time, would reach cores / (floor +
// storing) events a second; the ceiling is that rate as a multiple of the
// floor's. ClickHouse's CPU for the INSERT queries alone, from
// system.query_log, is given too.
func benchListenCeiling(p func(string, ...any), f, best listenRun) (ceiling float64, ok bool) {
	if f.Events == 0 || best.Events == 0 || f.ProcCPU <= 0 || best.MachineCPU <= best.ProcCPU {
		return 0, false
	}
	floorUs := float64(f.ProcCPU.Microseconds()) / float64(f.Events)
	storeUs := float64((best.MachineCPU - best.ProcCPU).Microseconds()) / float64(best.Events)
	insertUs := float64(best.InsertCPU.Microseconds()) / float64(best.Events+benchListenWarmup)
	cores := runtime.NumCPU()
	rate := float64(cores) * 1e6 / (floorUs + storeUs)
	p(" CPU per event: the floor's own (load generator and handler) %.0f µs; during the durable floor's load,\n", floorUs)
	p("every process but the benchmark's (ClickHouse's inserts and merges) %.0f µs, of which ClickHouse's INSERT queries %.0f µs.\n", storeUs, insertUs)
	p("A receiver that spent nothing else, with its %d cores busy all the time, would reach %d × 10⁶ / (%.0f + %.0f) = %.0f\n",
		cores, cores, floorUs, storeUs, rate)
	p("events/s, %.2f × the floor.", rate/f.rate())
	return rate / f.rate(), true
}

// benchSelfCPU is the benchmark process's CPU time so far (benchProcSample
// of its own pid).
func benchSelfCPU(b *testing.B) time.Duration {
	_, cpu, ok := benchProcSample(os.Getpid())
	if !ok {
		b.Fatal("no CPU sample of the benchmark's own process")
	}
	return cpu
}

// benchMachineCPU is the CPU time every process has used so far
// (/proc/stat: user, nice, system, irq, softirq and steal, in USER_HZ
// ticks of 10 ms).
func benchMachineCPU(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		b.Fatalf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat: %q: %v", line, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// benchInsertStats reads from system.query_log the INSERTs of follow events
// into e's database since start (the warm-up's end, roughly): how many, their
// mean rows and their server-side duration. Without a query_log it leaves r
// as it is.
func benchInsertStats(b *testing.B, e *env, start time.Time, r *listenRun) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.sink.Conn().Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		b.Fatalf("SYSTEM FLUSH LOGS: %v", err)
	}
	var exists uint8
	if err := e.sink.Conn().QueryRow(ctx, "SELECT toUInt8(count() > 0) FROM system.tables WHERE database = 'system' AND name = 'query_log'").Scan(&exists); err != nil || exists == 0 {
		return
	}
	q := `SELECT count(), avg(written_rows), quantile(0.5)(query_duration_ms), quantile(0.99)(query_duration_ms),
		sum(arraySum(arrayMap((n, v) -> if(n = 'UserTimeMicroseconds' OR n = 'SystemTimeMicroseconds', v, 0), ProfileEvents.Names, ProfileEvents.Values)))
		FROM system.query_log WHERE type = 2 AND event_date >= toDate(?) AND event_time >= ?
		AND position(query, ?) > 0 AND position(query, 'wechat_follow_events') > 0 AND query LIKE 'INSERT%'`
	from := start.UTC().Truncate(time.Second)
	var n, us uint64
	var rows, p50, p99 float64
	if err := e.sink.Conn().QueryRow(ctx, q, from, from, e.sink.Database()).Scan(&n, &rows, &p50, &p99, &us); err != nil {
		b.Fatalf("read system.query_log: %v", err)
	}
	r.Groups, r.GroupRows, r.InsertCPU = int(n), rows, time.Duration(us)*time.Microsecond
	r.InsertP50, r.InsertP99 = time.Duration(p50*float64(time.Millisecond)), time.Duration(p99*float64(time.Millisecond))
}
