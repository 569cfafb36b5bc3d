package host

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/sink"
)

// DefaultParallel is how many accounts RunMany syncs at once by default.
const DefaultParallel = 4

// ManyConfig says how RunMany syncs a list of accounts.
type ManyConfig struct {
	// Parallel is how many accounts run at once (one source each); 0:
	// DefaultParallel.
	Parallel int
	// Prepare returns the run of account a: its RunConfig (ID, AppID,
	// streams, source config with its credentials, Keeper). An error ends
	// that account's run only, recorded with its kind.
	Prepare func(ctx context.Context, a Account) (RunConfig, error)
	// Launch starts a source; stop stops it. Each of the Parallel workers
	// launches one when it needs it and runs up to AccountsPerSource
	// accounts through it, one Read each, before it stops it and launches
	// a new one. It also stops it after an account whose run failed (the
	// failure may have left the source broken), and when it runs out of
	// accounts. When a source is to be stopped after the account it
	// runs, its worker launches the next account's source meanwhile (on
	// another goroutine); Launch is called from several goroutines.
	Launch func(ctx context.Context) (src Source, stop func(), err error)
	// AccountsPerSource is how many accounts in a row one source serves;
	// 0 or 1: one source per account, the most isolation. More saves a
	// launch (a process, a TLS handshake) per account, which costs more
	// than a small account's whole sync.
	AccountsPerSource int
	// Dst receives every account's rows, cursors and run record.
	Dst Destination
	// Redact removes secrets from a run record's error text (nil: none).
	Redact func(string) string
	// Done, when set, is called as each account's run ends, once its
	// record is written (or failed to be), from one goroutine.
	Done func(AccountResult)
	// RecordLinger is how long a finished account's run record waits for
	// others to share its insert (fewer, larger parts in wxsync_runs): 0,
	// DefaultRecordLinger; negative, not at all. The last accounts' records
	// never wait for it: they go in as soon as every account is done, and
	// so do all waiting records on a signal.
	RecordLinger time.Duration
}

// DefaultRecordLinger is ManyConfig.RecordLinger's default: at a few
// accounts a second, one insert carries the records of several.
const DefaultRecordLinger = time.Second

// AccountResult is how one account's run ended.
type AccountResult struct {
	Account Account
	// Record is its wxsync_runs row (Status, ExitCode, Streams, Calls,
	// Error); its zero value for an account never started.
	Record sink.Run
	// Report is what host.Run committed.
	Report Report
	// Err is why the run failed (nil: it completed).
	Err error
	// Started is false when the account was not run (a signal came first).
	Started bool
	// RecordErr is why the record was not written (nil: it was).
	RecordErr error
}

// Summary is what RunMany did, one result per account in the order given.
type Summary struct {
	Results []AccountResult
}

// Kind is the aggregate outcome of a multi-account run, which sets its
// exit code:
//   - kind.Temporary (75) when any account stopped early or was not
//     started: a retry makes progress (the accounts that need a fix fail
//     again at once, without harm to the others);
//   - else kind.Internal (1) when any account failed unexpectedly;
//   - else kind.Config (78) when any account needs a fix;
//   - else none (0): every account completed.
func (s Summary) Kind() kind.Kind {
	seen := map[kind.Kind]bool{}
	for _, r := range s.Results {
		if !r.Started {
			seen[kind.Temporary] = true
			continue
		}
		seen[kind.Of(r.Err)] = true
	}
	for _, k := range []kind.Kind{kind.Temporary, kind.Internal, kind.Config} {
		if seen[k] {
			return k
		}
	}
	return kind.None
}

// Count returns how many accounts ended with each kind (not started:
// counted as kind.Temporary).
func (s Summary) Count() map[kind.Kind]int {
	out := map[kind.Kind]int{}
	for _, r := range s.Results {
		if !r.Started {
			out[kind.Temporary]++
			continue
		}
		out[kind.Of(r.Err)]++
	}
	return out
}

// ErrNotStarted is the error of an account a signal kept from starting.
var ErrNotStarted = kind.Mark(kind.Temporary, errors.New("not started: interrupted by a signal"))

// RunMany syncs accounts, at most cfg.Parallel at once, each through a
// Read of its worker's source (cfg.Launch) and host.Run into cfg.Dst, and
// records each in wxsync_runs. One account's failure, whatever its kind, never stops the
// others. On ctx cancellation the running accounts commit what they
// received and stop; the others are not started.
func RunMany(ctx context.Context, cfg ManyConfig, accounts []Account) Summary {
	parallel := cfg.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	results := make([]AccountResult, len(accounts))
	rec := newRecorder(ctx, &cfg, results)
	q := &queue{n: len(accounts)}
	var wg sync.WaitGroup
	for range min(parallel, len(accounts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{cfg: &cfg, rec: rec}
			w.loop(ctx, q, accounts, results)
		}()
	}
	wg.Wait()
	rec.close()
	for i := q.taken(); i < len(accounts); i++ {
		results[i] = AccountResult{Account: accounts[i], Err: ErrNotStarted}
	}
	return Summary{Results: results}
}

// recorder writes the run records of the accounts the workers finish, on
// a goroutine of its own, so that a worker goes on to its next account
// without waiting for ClickHouse. An insert takes every record that
// finished while the one before ran, and those that finish within the
// linger after the first of them (until the last account is done, or a
// signal). It sets each result's RecordErr and calls Done; close waits for
// the last insert.
type recorder struct {
	ctx     context.Context
	cfg     *ManyConfig
	linger  time.Duration
	results []AccountResult
	done    chan int // indexes of finished results
	stopped chan struct{}
}

// maxRecordsPerInsert bounds one insert of run records.
const maxRecordsPerInsert = 1000

func newRecorder(ctx context.Context, cfg *ManyConfig, results []AccountResult) *recorder {
	linger := cfg.RecordLinger
	if linger == 0 {
		linger = DefaultRecordLinger
	}
	r := &recorder{ctx: ctx, cfg: cfg, linger: max(linger, 0), results: results, done: make(chan int, len(results)), stopped: make(chan struct{})}
	go r.loop()
	return r
}

// record hands result i, complete but for RecordErr, to the recorder.
func (r *recorder) record(i int) { r.done <- i }

// close waits until every handed result is recorded.
func (r *recorder) close() {
	close(r.done)
	<-r.stopped
}

func (r *recorder) loop() {
	defer close(r.stopped)
	for i := range r.done {
		batch := r.gather(i)
		runs := make([]sink.Run, len(batch))
		for k, j := range batch {
			runs[k] = r.results[j].Record
		}
		err := WriteRecords(r.ctx, r.cfg.Dst, runs)
		for _, j := range batch {
			r.results[j].RecordErr = err
			if r.cfg.Done != nil {
				r.cfg.Done(r.results[j])
			}
		}
	}
}

// gather returns first and the records that join it in one insert: those
// already waiting, then those that come within the linger, unless the
// last has come (done is closed) or a signal stops the run.
func (r *recorder) gather(first int) []int {
	batch := []int{first}
	var timeout <-chan time.Time
	if r.linger > 0 && r.ctx.Err() == nil {
		t := time.NewTimer(r.linger)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < maxRecordsPerInsert {
		select {
		case j, ok := <-r.done:
			if !ok {
				return batch
			}
			batch = append(batch, j)
			continue
		default:
		}
		if timeout == nil {
			return batch
		}
		select {
		case j, ok := <-r.done:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		case <-timeout:
			return batch
		case <-r.ctx.Done():
			return batch
		}
	}
	return batch
}

// queue hands out the indexes of the accounts, in order, until ctx is
// cancelled.
type queue struct {
	mu   sync.Mutex
	next int
	n    int
}

// take returns the next index; ok is false when none is left or ctx is
// cancelled.
func (q *queue) take(ctx context.Context) (i int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ctx.Err() != nil || q.next >= q.n {
		return 0, false
	}
	q.next++
	return q.next - 1, true
}

// taken is how many indexes were handed out.
func (q *queue) taken() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.next
}

// worker is one of RunMany's goroutines with the source it reuses, and
// the source it is launching for its next account.
type worker struct {
	cfg   *ManyConfig
	rec   *recorder
	src   Source
	stop  func()
	runs  int           // accounts run through src
	spare chan launched // a launch under way (nil: none)
}

// launched is a finished Launch.
type launched struct {
	src  Source
	stop func()
	err  error
}

// loop runs the accounts it takes from q, writing their results. When the
// source of the account it is about to run will be stopped after it
// (AccountsPerSource reached), it takes the next account at once, if any,
// and launches that account's source while this one runs: a launch (a
// process start and a TLS handshake) costs about as much as a small
// account's sync. So a worker may hold two sources for a moment; it never
// runs two accounts at once, and launches no source that no account uses
// (but one after a failed run, which stops the source). An account taken
// ahead is not started if ctx is cancelled meanwhile.
func (w *worker) loop(ctx context.Context, q *queue, accounts []Account, results []AccountResult) {
	defer w.close()
	i, ok := q.take(ctx)
	for ok {
		if ctx.Err() != nil {
			results[i] = AccountResult{Account: accounts[i], Err: ErrNotStarted}
			break
		}
		claimed := false
		var j int
		ahead := func() {
			if j, claimed = q.take(ctx); claimed {
				w.launchSpare(ctx)
			}
		}
		results[i] = w.runAccount(ctx, accounts[i], ahead)
		w.rec.record(i)
		if claimed {
			i = j
		} else {
			i, ok = q.take(ctx)
		}
	}
}

// source returns the worker's source: the one it has, the spare launched
// ahead, or a new one.
func (w *worker) source(ctx context.Context) (Source, error) {
	if w.src == nil {
		var l launched
		if w.spare != nil {
			l, w.spare = <-w.spare, nil
		} else {
			l.src, l.stop, l.err = w.cfg.Launch(ctx)
		}
		if l.err != nil {
			return nil, l.err
		}
		w.src, w.stop = l.src, l.stop
	}
	return w.src, nil
}

// launchSpare starts launching the source the next account will use.
func (w *worker) launchSpare(ctx context.Context) {
	if w.spare != nil {
		return
	}
	ch := make(chan launched, 1)
	w.spare = ch
	go func() {
		var l launched
		l.src, l.stop, l.err = w.cfg.Launch(ctx)
		ch <- l
	}()
}

// retire stops the worker's source, if it has one.
func (w *worker) retire() {
	if w.stop != nil {
		w.stop()
	}
	w.src, w.stop, w.runs = nil, nil, 0
}

// close stops the worker's sources, the spare included.
func (w *worker) close() {
	w.retire()
	if w.spare != nil {
		if l := <-w.spare; l.err == nil {
			l.stop()
		}
		w.spare = nil
	}
}

// runAccount runs one account and makes its record (the recorder writes
// it). Once it has the account's source, and that source is to be stopped
// after this account, it calls ahead, which may start the next account's
// launch.
func (w *worker) runAccount(ctx context.Context, a Account, ahead func()) AccountResult {
	res := AccountResult{Account: a, Started: true}
	started := time.Now()
	rc, err := w.cfg.Prepare(ctx, a)
	rc.AppID = a.AppID
	if err == nil {
		var src Source
		if src, err = w.source(ctx); err == nil {
			if w.runs+1 >= max(1, w.cfg.AccountsPerSource) {
				ahead()
			}
			res.Report, err = Run(ctx, rc, src, w.cfg.Dst, nil)
			w.runs++
			if err != nil || w.runs >= max(1, w.cfg.AccountsPerSource) {
				w.retire()
			}
		}
	}
	res.Err = err
	res.Record = NewRecord(rc, started, res.Report, err, w.cfg.Redact)
	return res
}
