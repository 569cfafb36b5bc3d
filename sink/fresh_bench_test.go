package sink

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFreshPage times the decision for one 10,000-openid page against
// sets of 1M and 10M fresh profiles (half the page fresh).
func BenchmarkFreshPage(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		f := &FreshSet{salt: "0123456789abcdef"}
		f.hashes = offHeap[uint64](f, n)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("oAcct1%022d", i)
			f.hashes = append(f.hashes, f.hash(nil, ids[i]))
		}
		f.index()
		// 64 pages, used in turn, so that (as in a sync) a page's lookups
		// find little of the set in cache; each page's openids are one
		// string, as the host unpacks them.
		pages := make([][]string, 64)
		for k := range pages {
			var all strings.Builder
			for i := range 10000 {
				if i%2 == 0 {
					all.WriteString(ids[(i*7919+k*104729)%n])
				} else {
					fmt.Fprintf(&all, "oNew%06d%018d", k, i)
				}
			}
			joined := all.String()
			for i := range 10000 {
				pages[k] = append(pages[k], joined[i*28:(i+1)*28])
			}
		}
		b.Run(fmt.Sprintf("fresh=%d/each", n), func(b *testing.B) {
			cpu := cpuTime(b)
			defer func() { b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
			for it := range b.N {
				page := pages[it%len(pages)]
				need := make([]string, 0, len(page))
				for _, id := range page {
					if !f.Fresh(id) {
						need = append(need, id)
					}
				}
				if len(need) != 5000 {
					b.Fatal(len(need))
				}
			}
		})
		b.Run(fmt.Sprintf("fresh=%d/batch", n), func(b *testing.B) {
			cpu := cpuTime(b)
			defer func() { b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
			for it := range b.N {
				if need := f.Need(pages[it%len(pages)]); len(need) != 5000 {
					b.Fatal(len(need))
				}
			}
		})
	}
}
