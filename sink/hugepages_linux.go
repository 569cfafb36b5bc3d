package sink

import "golang.org/x/sys/unix"

// adviseHugePages asks the kernel to back b, already written, with
// transparent huge pages (2 MiB on x86-64), and to do it now
// (MADV_COLLAPSE, Linux 6.1 and later) rather than whenever its background
// thread gets there. A FreshSet's lookups land at random in its array: with
// 4 KiB pages each one also misses the TLB once the array outgrows what the
// TLB maps (10M profiles: 96 MB, 23,000 pages), with huge pages it does not
// (48 of them). It is advice: where transparent huge pages are off, or the
// kernel is older (EINVAL), the mapping keeps 4 KiB pages and works the
// same, so the error is of no use to the caller.
func adviseHugePages(b []byte) {
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	_ = unix.Madvise(b, unix.MADV_COLLAPSE)
}
