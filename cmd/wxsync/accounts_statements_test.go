package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// The statements a fresh account of followers and users costs in `wxsync
// sync --accounts`, counted by kind from system.query_log: the difference
// between a sync of three fresh accounts and one of one fresh account, so
// that what a process does once (its schema check, the snapshot id floor)
// drops out. Each account has 1,000 followers on one page that ends the
// list (EndEmptyNext: no cursor is saved before the done checkpoints).
func TestSyncAccountsStatementsPerFreshAccount(t *testing.T) {
	e := newManyEnv(t)
	logged := sinktest.OpenLogged(t, e.sink, sink.Config{})
	e.dsn = sinktest.LoggedDSN(t, e.sink.Database())
	log := sinktest.NewQueryLog(t, logged)
	next := 0
	sync := func(n int) map[string]int {
		t.Helper()
		var entries []map[string]string
		for range n {
			entries = append(entries, e.addAccount(next, 1000, "secret", func(o *wxsim.Options) {
				o.PageSize, o.EndStyle = wxsim.MaxPageSize, wxsim.EndEmptyNext
			}))
			next++
		}
		list := e.writeList(entries)
		log.Mark(t)
		if r := e.run("sync", "--accounts", list); r.code != 0 {
			t.Fatalf("sync of %d accounts: exit %d\n%s", n, r.code, r.output)
		}
		counts := map[string]int{}
		for _, k := range log.Statements(t) {
			counts[k]++
		}
		return counts
	}
	sync(1) // creates the tables
	one, three := sync(1), sync(3)
	// Run records go in as accounts finish, those that finish during an
	// insert together in the next: one insert for one account, one to
	// three for three.
	if r1, r3 := one[runsInsert], three[runsInsert]; r1 != 1 || r3 < 1 || r3 > 3 {
		t.Errorf("run record inserts: %d for one account, %d for three; want 1, and 1 to 3", r1, r3)
	}
	delete(one, runsInsert)
	delete(three, runsInsert)
	per := map[string]int{}
	kinds := maps.Clone(three)
	maps.Copy(kinds, one)
	for k := range kinds {
		d := three[k] - one[k]
		if d%2 != 0 {
			t.Fatalf("%s: %d statements for three accounts, %d for one: not the same per account", k, three[k], one[k])
		}
		if d != 0 {
			per[k] = d / 2
		}
	}
	want := map[string]int{
		"SELECT wxsync_state":     1, // LoadStates; no state write: the snapshot is begun and done in one commit
		"INSERT wechat_snapshots": 2, // begun, complete
		"INSERT wechat_followers": 1,
		"INSERT wechat_users":     1,
		"SELECT wechat_users":     1, // LoadFreshProfiles
		"SELECT wechat_snapshots": 1, // CompleteSnapshot's check and the pruning
		"SELECT wechat_followers": 1, // CompleteSnapshot's count
	}
	total := 0
	for _, n := range per {
		total += n
	}
	if !maps.Equal(per, want) || total > 8 {
		t.Errorf("statements per fresh account, besides its run record (%d):\n  %s\nwant\n  %s", total, lines(per), lines(want))
	}
	fixed := map[string]int{}
	for k, n := range one {
		if n-per[k] != 0 {
			fixed[k] = n - per[k]
		}
	}
	t.Logf("statements per fresh account: %d and its run record; per sync of 1 account, beside them: %s", total, lines(fixed))
}

// runsInsert is the statement kind of a run records insert.
const runsInsert = "INSERT wxsync_runs"

// lines formats counts by kind, one per line, sorted.
func lines(counts map[string]int) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(out, "\n  ")
}
