package source

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// BatchSize is the most openids one batchget call takes.
const BatchSize = 100

// DefaultConcurrency is how many batchget calls are in flight by default.
const DefaultConcurrency = 8

// accountRead is what one walk of the follower list is asked to do.
type accountRead struct {
	api       *wechat.Client
	host      plugin.Host // the host's profile filter (nil: every profile is due)
	out       plugin.Emitter
	followers bool   // emit the followers stream
	users     bool   // fetch and emit the profiles (users stream)
	cursor    []byte // the leading stream's saved cursor
	// concurrency is how many batchget calls are in flight (0: the
	// default).
	concurrency int
}

// listStream is the stream whose cursor leads the walk: followers when it
// is read, else users.
func (r accountRead) listStream() string {
	if r.followers {
		return schema.Followers
	}
	return schema.Users
}

// readAccount walks the follower list once for the followers and users
// streams together: the followers of each page are emitted as they come,
// the host is asked which profiles of each page it needs while the walk
// lists the next page (decider), and those are fetched by a pool of
// workers, 100 openids a call. Both streams are
// checkpointed with the same cursor, and only once every profile of the
// pages before it has been emitted; the cursor carries the (fewer than 100)
// openids still waiting for a batch.
func (s *Source) readAccount(ctx context.Context, rq accountRead) error {
	cur, err := decodeListCursor(rq.cursor)
	if err != nil {
		return plugin.ConfigError(err)
	}
	// The list walked is always the followers'; its records are emitted
	// only when the followers stream is wanted.
	w := &walk{stream: schema.Followers, records: rq.followers, page: rq.api.ListFollowers, calls: rq.api.Calls, out: rq.out, log: s.log}
	if err := s.planQuota(ctx, rq.api, rq.users, cur, w, rq.out); err != nil {
		return err
	}
	if !rq.users {
		return w.run(ctx, cur)
	}
	p, g, wctx := startProfiles(ctx, rq)
	d := startDecider(g, wctx, p, rq.listStream())
	w.onPage = d.page
	w.checkpoint = d.checkpoint
	// The openids the cursor carries were due when it was saved, but a batch
	// sent after that checkpoint may have fetched them since (the run then
	// stopped before the next one): they go through the host's filter
	// again, like a page's.
	var walkErr error
	if len(cur.Carry) > 0 {
		walkErr = d.page(wctx, cur.Carry)
	}
	if walkErr == nil {
		walkErr = w.run(wctx, cur)
	}
	d.close() // the decider closes p.work once it has handled the walk's last page
	workErr := g.Wait()
	if walkErr != nil && (workErr == nil || wctx.Err() == nil || ctx.Err() != nil) {
		// The walk's own failure, not the echo of a worker's.
		return &plugin.Error{Kind: classify(ctx, walkErr), Stream: rq.listStream(), Err: walkErr}
	}
	if workErr != nil {
		return workErr
	}
	return p.flushed()
}

// startProfiles starts the profile pipeline of a walk: its batchget
// workers and the assembler that emits their profiles in order, in group
// g, whose context wctx ends when one of them fails (or ctx ends). The
// walk feeds it through a decider (p.page and p.checkpoint, in order),
// which closes p.work when done; g.Wait then returns once every queued
// batch is handled.
//
// When the walk fails (a 45009 on user/get, say), the workers finish the
// batches already queued, so the checkpoints of the pages listed so far
// still go out and the next run does not list those pages again.
func startProfiles(ctx context.Context, rq accountRead) (p *profiles, g *errgroup.Group, wctx context.Context) {
	concurrency := rq.concurrency
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	g, wctx = errgroup.WithContext(ctx)
	p = &profiles{
		ctx: wctx, api: rq.api, host: rq.host, out: rq.out, calls: rq.api.Calls,
		// One page's worth of batches queued lets the walk list the next
		// page while the workers fetch this one.
		work:              make(chan profileBatch, PageSize/BatchSize+concurrency),
		fetchedc:          make(chan fetchedBatch, concurrency),
		checkpointStreams: []string{schema.Users},
	}
	if rq.followers {
		p.checkpointStreams = []string{schema.Followers, schema.Users}
	}
	var workers sync.WaitGroup
	for range concurrency {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			return p.worker(wctx)
		})
	}
	g.Go(func() error {
		err := p.assemble()
		if err != nil {
			// The error cancels wctx, which stops the workers. Once it has,
			// what they still hand over is dropped, so none blocks; not
			// before, so that none makes another call meanwhile.
			go func() {
				<-wctx.Done()
				for range p.fetchedc {
				}
			}()
		}
		return err
	})
	go func() {
		// The assembler drains every fetched batch, so it ends once the
		// last worker has handed over its last one.
		workers.Wait()
		close(p.fetchedc)
	}()
	return p, g, wctx
}

// planQuota reads today's quota of the walk's endpoints before it lists
// anything, reports it to the host, and warns (warnQuota) when the walk
// cannot finish today: at once when resuming (the cursor knows the total)
// or when no user/get call is left, else once the first page tells the
// total (asking user/get for it would spend the very quota being planned).
// A failed quota/get is logged and the walk goes on: the quota is then
// found the hard way, by 45009.
func (s *Source) planQuota(ctx context.Context, api *wechat.Client, users bool, cur listCursor, w *walk, out plugin.Emitter) error {
	// The token first: its failure (a wrong secret, a host off the IP
	// whitelist) ends the Read as it would at the first page, rather than
	// pass for a failed quota/get.
	if err := api.Token(ctx); err != nil {
		return err
	}
	plans := readQuotas(ctx, api, users)
	remain := map[string]int64{}
	for _, q := range plans {
		if q.err != nil {
			s.log.Warn("could not read today's quota; the sync goes on without a plan", "path", q.path, "error", q.err.Error())
			continue
		}
		remain[q.path] = q.quota.Remain
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := out.Progress("", plugin.Progress{Calls: api.Calls(), QuotaRemain: remain}); err != nil {
		return err
	}
	if cur.Total > 0 {
		s.warnQuota(plans, cur.Total, cur.Fetched)
		return nil
	}
	if q := plans[0]; q.err == nil && q.quota.Remain == 0 {
		s.log.Warn(fmt.Sprintf("today's quota cannot finish this sync: %s has no call left (daily limit %d); the run will stop at its first call with exit 75 and resume on the next run",
			q.path, q.quota.DailyLimit), "path", q.path, "remain", 0, "daily_limit", q.quota.DailyLimit)
		return nil
	}
	fetched := cur.Fetched
	w.onTotal = func(total int64) { s.warnQuota(plans, total, fetched) }
	return nil
}

// profileBatch is one batchget call's worth of openids.
type profileBatch struct {
	seq int
	ids []string
}

// fetchedBatch is a batch's profiles, on their way to the assembler.
type fetchedBatch struct {
	seq   int
	users []wechat.User
	at    time.Time
}

// maxRecordRows bounds how many profiles the assembler puts in one record
// when fetched batches queue up.
const maxRecordRows = 2000

// marker is a checkpoint waiting for the batches dispatched before it.
type marker struct {
	upto int // batches 1..upto must be emitted first
	cur  listCursor
	done bool
}

// profiles is the profile pipeline of one walk.
type profiles struct {
	ctx               context.Context // the walk's: cancelled when a worker fails
	api               *wechat.Client
	host              plugin.Host
	out               plugin.Emitter
	calls             func() map[string]int64
	work              chan profileBatch // walk → workers
	fetchedc          chan fetchedBatch // workers → assembler
	checkpointStreams []string

	mu       sync.Mutex
	carry    []string     // needed openids not yet in a batch
	dispatch int          // batches dispatched so far
	finished map[int]bool // emitted batches above doneUpTo
	doneUpTo int          // batches 1..doneUpTo are all emitted
	markers  []marker
	planned  int64
	fetched  int64
	final    bool // the done checkpoint has been emitted
}

// page takes a page's openids: asks the host which need a profile, and
// queues them in batches of 100.
func (p *profiles) page(ctx context.Context, ids []string) error {
	need := ids
	if p.host != nil {
		var err error
		if need, err = p.host.NeedProfiles(ctx, ids); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.planned += int64(len(need))
	p.carry = append(p.carry, need...)
	var batches []profileBatch
	full := len(p.carry) / BatchSize * BatchSize
	for i := 0; i < full; i += BatchSize {
		p.dispatch++
		batches = append(batches, profileBatch{seq: p.dispatch, ids: p.carry[i : i+BatchSize : i+BatchSize]})
	}
	p.carry = append([]string(nil), p.carry[full:]...)
	p.mu.Unlock()
	return p.send(ctx, batches)
}

func (p *profiles) send(ctx context.Context, batches []profileBatch) error {
	for _, b := range batches {
		select {
		case p.work <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// checkpoint records the walk's cursor; it is emitted once the batches
// queued before it are. At the end of the walk the carry is sent as a last,
// short batch.
func (p *profiles) checkpoint(cur listCursor, done bool) error {
	p.mu.Lock()
	var last []profileBatch
	if done && len(p.carry) > 0 {
		p.dispatch++
		last = append(last, profileBatch{seq: p.dispatch, ids: p.carry})
		p.carry = nil
	}
	cur.Carry = append([]string(nil), p.carry...)
	p.markers = append(p.markers, marker{upto: p.dispatch, cur: cur, done: done})
	err := p.emitReady()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.send(p.ctx, last)
}

// worker fetches batches until the queue closes, and hands each one's
// profiles to the assembler, so that its next call goes out at once rather
// than after the record is built and sent.
func (p *profiles) worker(ctx context.Context) error {
	for batch := range p.work {
		users, err := p.api.BatchGetUsers(ctx, batch.ids, wechat.LangZhCN)
		if err != nil {
			return &plugin.Error{Kind: classify(ctx, err), Stream: schema.Users, Err: fmt.Errorf("batchget of %d openids: %w", len(batch.ids), err)}
		}
		// No select on ctx: the assembler takes every batch until the
		// channel closes, so what was fetched is still emitted (and its
		// checkpoint with it) when another worker has failed.
		p.fetchedc <- fetchedBatch{seq: batch.seq, users: users, at: time.Now()}
	}
	return nil
}

// assemble turns fetched batches into users records, one per batch, or one
// for several (up to maxRecordRows profiles) when they queue up, and emits
// each checkpoint once every batch before it is out. It returns when the
// workers are done, or at the first failed emit.
func (p *profiles) assemble() error {
	b := newUserBatcher()
	defer b.release()
	var group []fetchedBatch
	for first := range p.fetchedc {
		group = append(group[:0], first)
		rows := len(first.users)
	more:
		for rows < maxRecordRows {
			select {
			case fb, ok := <-p.fetchedc:
				if !ok {
					break more
				}
				group, rows = append(group, fb), rows+len(fb.users)
			default:
				break more
			}
		}
		if err := p.emitGroup(b, group, rows); err != nil {
			return err
		}
	}
	return nil
}

// emitGroup emits the profiles of group as one record, then the checkpoints
// they complete and the progress.
func (p *profiles) emitGroup(b *userBatcher, group []fetchedBatch, rows int) error {
	if rows > 0 {
		for _, fb := range group {
			b.append(fb.users, fb.at)
		}
		rec := b.rb.NewRecord()
		err := p.out.Record(schema.Users, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.fetched += int64(rows)
	if p.finished == nil {
		p.finished = map[int]bool{}
	}
	for _, fb := range group {
		p.finished[fb.seq] = true
	}
	err := p.emitReady()
	progress := plugin.Progress{Total: p.planned, Fetched: p.fetched, Calls: p.calls()}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.out.Progress(schema.Users, progress)
}

// emitReady emits, in order, every checkpoint whose batches are all
// emitted. The caller holds p.mu.
func (p *profiles) emitReady() error {
	for p.finished[p.doneUpTo+1] {
		delete(p.finished, p.doneUpTo+1)
		p.doneUpTo++
	}
	for len(p.markers) > 0 && p.markers[0].upto <= p.doneUpTo {
		m := p.markers[0]
		p.markers = p.markers[1:]
		if m.done {
			// Every batch is in: the final counts go just before the
			// done checkpoint (a worker's own Progress may come later).
			if err := p.out.Progress(schema.Users, plugin.Progress{Total: p.planned, Fetched: p.fetched, Calls: p.calls()}); err != nil {
				return err
			}
		}
		for _, st := range p.checkpointStreams {
			if err := p.out.Checkpoint(st, m.cur.encode(), m.done); err != nil {
				return err
			}
		}
		p.final = p.final || m.done
	}
	return nil
}

// flushed checks, after the workers are done, that the final checkpoint
// went out.
func (p *profiles) flushed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.emitReady(); err != nil {
		return err
	}
	if !p.final {
		return fmt.Errorf("internal: the profile pipeline ended with %d checkpoints waiting", len(p.markers))
	}
	return nil
}

// userBatcher builds users record batches, reusing its builders.
type userBatcher struct {
	rb *array.RecordBuilder
}

func newUserBatcher() *userBatcher {
	st, _ := schema.Lookup(schema.Users) // a known stream
	return &userBatcher{rb: array.NewRecordBuilder(memory.NewGoAllocator(), st.SourceSchema())}
}

// append adds users, fetched at at, to the record being built, in
// schema.Users' source column order.
func (b *userBatcher) append(users []wechat.User, at time.Time) {
	f := b.rb.Fields()
	stamp := arrow.Timestamp(at.Unix())
	for _, u := range users {
		f[0].(*array.StringBuilder).Append(u.OpenID)
		f[1].(*array.Uint8Builder).Append(uint8(u.Subscribe))
		f[2].(*array.StringBuilder).Append(u.Language)
		f[3].(*array.TimestampBuilder).Append(arrow.Timestamp(u.SubscribeTime))
		f[4].(*array.StringBuilder).Append(u.UnionID)
		f[5].(*array.StringBuilder).Append(u.Remark)
		f[6].(*array.Int64Builder).Append(u.GroupID)
		lb := f[7].(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.Uint32Builder).AppendValues(u.TagIDs, nil)
		f[8].(*array.StringBuilder).Append(u.SubscribeScene)
		f[9].(*array.Int64Builder).Append(u.QRScene)
		f[10].(*array.StringBuilder).Append(u.QRSceneStr)
		f[11].(*array.TimestampBuilder).Append(stamp)
	}
}

func (b *userBatcher) release() { b.rb.Release() }
