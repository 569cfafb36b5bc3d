package source

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/wxsync/wxsync/plugin"
)

// decideDepth is how many of the walk's pages and checkpoints may wait for
// the decider: enough for the walk to list the next page while the host
// decides which profiles of this one are due, and few enough that memory
// does not grow with the account (a page is up to 10,000 openids).
const decideDepth = 2

// decideItem is a page of openids, or a checkpoint.
type decideItem struct {
	checkpoint bool
	page       []string   // a page's openids
	cur        listCursor // a checkpoint's cursor
	done       bool       // a checkpoint's: the walk is done
}

// decider stands between the walk and the profile pipeline: it takes the
// walk's pages and checkpoints in order and, on a goroutine of its own,
// asks the host which profiles of each page are due (profiles.page) and
// records each checkpoint (profiles.checkpoint). So the walk lists its
// next page while the host decides, instead of waiting for the answer;
// the order of pages and checkpoints, and so every guarantee of the
// pipeline, is unchanged.
type decider struct {
	ctx   context.Context // the pipeline's: ends when any part of it fails
	items chan decideItem
}

// startDecider starts p's decider in g. Close it once the walk is done;
// it closes p.work when it has handled everything before that. A failed
// host call or emit ends it, and the pipeline, with an error of stream.
func startDecider(g *errgroup.Group, wctx context.Context, p *profiles, stream string) *decider {
	d := &decider{ctx: wctx, items: make(chan decideItem, decideDepth)}
	g.Go(func() error {
		defer close(p.work)
		for it := range d.items {
			var err error
			if it.checkpoint {
				err = p.checkpoint(it.cur, it.done)
			} else {
				err = p.page(wctx, it.page)
			}
			if err != nil {
				return &plugin.Error{Kind: classify(wctx, err), Stream: stream, Err: err}
			}
		}
		return nil
	})
	return d
}

// page queues a page's openids.
func (d *decider) page(ctx context.Context, ids []string) error {
	return d.send(ctx, decideItem{page: ids})
}

// checkpoint queues the cursor after the pages queued before it.
func (d *decider) checkpoint(cur listCursor, done bool) error {
	return d.send(d.ctx, decideItem{checkpoint: true, cur: cur, done: done})
}

func (d *decider) send(ctx context.Context, it decideItem) error {
	select {
	case d.items <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

// close tells the decider that the walk is done.
func (d *decider) close() { close(d.items) }
