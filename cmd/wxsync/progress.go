package main

// Progress display: a live bar per stream on a terminal, a structured log
// line every few seconds elsewhere. The sync loop only calls update, done
// and stop, which record numbers under a mutex and return: rendering and
// logging happen on goroutines of their own, so a slow terminal never holds
// up a commit.

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress is what the sync loop tells the display. Its methods never
// block on rendering.
type progress interface {
	// update records stream's latest counts: fetched of total (0: unknown).
	update(stream string, total, fetched int64)
	// done marks stream complete and committed.
	done(stream string)
	// stop draws or logs the final state and returns once it is out. Bars
	// of streams not done are left where they stopped.
	stop()
}

// progressStream is one stream's counts, and the baseline its rate is
// measured from.
type progressStream struct {
	name           string
	total, fetched int64
	finished       bool
	seen           bool // an update arrived
	// The rate is (fetched-base)/(now-since). A stream that starts afresh
	// counts from 0 at the start of the run; a resumed one from its first
	// update, since its counts include earlier runs' rows.
	base  int64
	since time.Time
	// logged is the state last logged (logProgress).
	logged struct {
		fetched, total int64
		finished       bool
	}
}

func (s *progressStream) rate(now time.Time) float64 {
	d := now.Sub(s.since).Seconds()
	if d <= 0 || s.fetched <= s.base {
		return 0
	}
	return float64(s.fetched-s.base) / d
}

// progressState is the streams' counts, shared by the sync loop and the
// display goroutine.
type progressState struct {
	mu      sync.Mutex
	streams map[string]*progressStream
	order   []string
	resumed map[string]bool
	kick    chan struct{} // buffered 1: "something changed"
}

func newProgressState(streams []string, resumed map[string]bool, start time.Time) *progressState {
	ps := &progressState{streams: map[string]*progressStream{}, order: streams, resumed: resumed, kick: make(chan struct{}, 1)}
	for _, name := range streams {
		ps.streams[name] = &progressStream{name: name, since: start}
	}
	return ps
}

func (ps *progressState) update(stream string, total, fetched int64) {
	ps.mu.Lock()
	s, ok := ps.streams[stream]
	if ok && !s.finished {
		if !s.seen && ps.resumed[stream] {
			s.base, s.since = fetched, time.Now()
		}
		s.seen, s.total, s.fetched = true, total, fetched
	}
	ps.mu.Unlock()
	ps.signal()
}

func (ps *progressState) done(stream string) {
	ps.mu.Lock()
	if s, ok := ps.streams[stream]; ok {
		s.finished, s.seen = true, true
	}
	ps.mu.Unlock()
	ps.signal()
}

func (ps *progressState) signal() {
	select {
	case ps.kick <- struct{}{}:
	default:
	}
}

// snapshot returns a copy of every stream's state, in run order.
func (ps *progressState) snapshot() []progressStream {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]progressStream, 0, len(ps.order))
	for _, name := range ps.order {
		out = append(out, *ps.streams[name])
	}
	return out
}

// newProgress returns the display for a sync of streams: bars when stderr
// is a terminal (logs then print above them, through logs), log lines
// through log every interval otherwise.
func newProgress(stderr io.Writer, logs *redirectWriter, log *slog.Logger, interval time.Duration, streams []string, resumed map[string]bool) progress {
	ps := newProgressState(streams, resumed, time.Now())
	if isTerminal(stderr) {
		return newTermProgress(ps, stderr, logs)
	}
	return newLogProgress(ps, log, interval)
}

// isTerminal reports whether w is a terminal that can draw bars.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && os.Getenv("TERM") != "dumb"
}

// redirectWriter writes to its current target. The log handlers write
// through it, so that while bars are drawn their lines go to the bars'
// container and print above the bars, not through them. Should the
// container fail (it stops on a terminal error), lines go to stderr.
type redirectWriter struct {
	mu     sync.Mutex
	w      io.Writer
	stderr io.Writer
}

func (r *redirectWriter) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.w.Write(b)
	if err != nil && r.w != r.stderr {
		return r.stderr.Write(b)
	}
	return n, err
}

// termProgress draws a bar per stream with mpb.
type termProgress struct {
	*progressState
	p        *mpb.Progress
	logs     *redirectWriter
	stderr   io.Writer
	bars     map[string]*mpb.Bar
	quit     chan struct{}
	finished chan struct{}
	once     sync.Once
}

func newTermProgress(ps *progressState, stderr io.Writer, logs *redirectWriter) *termProgress {
	t := &termProgress{
		progressState: ps, logs: logs, stderr: stderr, bars: map[string]*mpb.Bar{},
		quit: make(chan struct{}), finished: make(chan struct{}),
		p: mpb.New(mpb.WithOutput(stderr), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond)),
	}
	width := 0
	for _, name := range ps.order {
		width = max(width, len(name))
	}
	for _, name := range ps.order {
		s := name
		t.bars[name] = t.p.AddBar(0,
			mpb.PrependDecorators(decor.Name(name, decor.WC{W: width + 1, C: decor.DindentRight})),
			mpb.AppendDecorators(decor.Any(func(st decor.Statistics) string { return t.describe(s, st) })),
		)
	}
	logs.mu.Lock()
	logs.w = t.p
	logs.mu.Unlock()
	go t.apply()
	return t
}

// describe is the text after a bar: counts, percentage, rate and ETA.
func (t *termProgress) describe(stream string, st decor.Statistics) string {
	t.mu.Lock()
	rate := t.streams[stream].rate(time.Now())
	t.mu.Unlock()
	pct := 0.0
	switch {
	case st.Completed:
		pct = 100
	case st.Total > 0:
		pct = min(100, float64(st.Current)*100/float64(st.Total))
	}
	total := "?"
	if st.Total > 0 || st.Completed {
		total = fmt.Sprint(st.Total)
	}
	s := fmt.Sprintf("%d/%s %3.0f%% %s/s", st.Current, total, pct, humanRate(rate))
	switch {
	case st.Completed:
		s += " done"
	case st.Aborted:
		s += " stopped"
	case rate > 0 && st.Total > st.Current:
		eta := time.Duration(float64(st.Total-st.Current) / rate * float64(time.Second)).Round(time.Second)
		if eta < time.Second {
			s += " ETA <1s"
		} else {
			s += " ETA " + eta.String()
		}
	}
	return s
}

// apply moves the bars to the latest counts whenever they change, until
// stop.
func (t *termProgress) apply() {
	defer close(t.finished)
	for {
		select {
		case <-t.kick:
			t.sync(false)
		case <-t.quit:
			t.sync(true)
			// Hold the log writer while the last frame is drawn, then give
			// it back to stderr: no log line is lost in between.
			t.logs.mu.Lock()
			t.p.Wait()
			t.logs.w = t.stderr
			t.logs.mu.Unlock()
			return
		}
	}
}

// sync sets each bar to its stream's counts; a finished stream's bar is
// completed at its final count; with last, the others are stopped.
func (t *termProgress) sync(last bool) {
	for _, s := range t.snapshot() {
		b := t.bars[s.name]
		switch {
		case s.finished:
			b.SetTotal(s.fetched, true)
		case s.seen:
			b.SetTotal(s.total, false)
			b.SetCurrent(s.fetched)
		}
		if last && !s.finished {
			b.Abort(false)
		}
	}
}

func (t *termProgress) stop() {
	t.once.Do(func() { close(t.quit) })
	<-t.finished
}

// logProgress logs each stream's counts every interval (when they
// changed) and once more when a stream is done.
type logProgress struct {
	*progressState
	log      *slog.Logger
	interval time.Duration
	quit     chan struct{}
	finished chan struct{}
	once     sync.Once
}

func newLogProgress(ps *progressState, log *slog.Logger, interval time.Duration) *logProgress {
	l := &logProgress{progressState: ps, log: log, interval: interval, quit: make(chan struct{}), finished: make(chan struct{})}
	go l.run()
	return l
}

func (l *logProgress) run() {
	defer close(l.finished)
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			l.emit(false)
		case <-l.kick:
			l.emit(true)
		case <-l.quit:
			l.emit(false)
			return
		}
	}
}

// emit logs every stream whose counts changed since its last line; with
// onlyDone, only those that just finished (a tick logs the others).
func (l *logProgress) emit(onlyDone bool) {
	now := time.Now()
	l.mu.Lock()
	var lines [][]any
	for _, name := range l.order {
		s := l.streams[name]
		if !s.seen || (s.logged.fetched == s.fetched && s.logged.total == s.total && s.logged.finished == s.finished) {
			continue
		}
		if onlyDone && !s.finished {
			continue
		}
		s.logged.fetched, s.logged.total, s.logged.finished = s.fetched, s.total, s.finished
		lines = append(lines, []any{"stream", name, "fetched", s.fetched, "total", s.total,
			"rate", math.Round(s.rate(now)*10) / 10, "done", s.finished})
	}
	l.mu.Unlock()
	for _, args := range lines {
		l.log.Info("progress", args...)
	}
}

func (l *logProgress) stop() {
	l.once.Do(func() { close(l.quit) })
	<-l.finished
}

// humanRate prints a rate per second compactly: 950, 12.3k, 1.2M.
func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.0fk", r/1e3)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	default:
		return fmt.Sprintf("%.0f", r)
	}
}
