//go:build linux || darwin

package sink

import (
	"runtime"
	"syscall"
	"unsafe"
)

// offHeapMinBytes is the smallest buffer worth a mapping of its own.
const offHeapMinBytes = 1 << 20

// offHeap returns an empty slice with room for n values of T, in memory
// mapped outside the Go heap when it is large, so that a big long-lived
// FreshSet does not raise the garbage collector's heap goal (a multiple
// of the live heap, five at wxsync's GOGC: 80 MB of hashes on the heap
// would let the host's heap grow by 320 MB of garbage before a collection,
// short of the memory limit). The mapping is released
// once owner is unreachable. T must hold no pointers.
func offHeap[T uint32 | uint64](owner *FreshSet, n int) []T {
	size := n * int(unsafe.Sizeof(T(0)))
	if size < offHeapMinBytes {
		return make([]T, 0, n)
	}
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]T, 0, n) // on the heap, then
	}
	runtime.AddCleanup(owner, func(b []byte) { _ = syscall.Munmap(b) }, b)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)[:0]
}

// useHugePages moves s, once written, to transparent huge pages where the
// platform has them (adviseHugePages); small slices are left as they are.
// It is called after the writing, not at the mapping: a mapping advised
// before it is written gets a whole 2 MiB page at its first write anywhere
// in it, so scattering hashes into a FreshSet's buckets made the whole
// array resident at once, beside the chunks they came from (the host of a
// 10M rerun peaked at 216 MiB instead of 166).
func useHugePages[T uint32 | uint64](s []T) {
	size := cap(s) * int(unsafe.Sizeof(T(0)))
	if size < offHeapMinBytes {
		return
	}
	adviseHugePages(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), size))
}

// offHeapChunk returns an empty slice with room for n uint64s, mapped
// outside the Go heap, and the function that unmaps it (the slice must not
// be used after). Unlike a heap buffer, its memory goes back to the system
// the moment it is released, so buffers copied one by one into a final
// array and released as they are copied never add up with it.
func offHeapChunk(n int) ([]uint64, func()) {
	b, err := syscall.Mmap(-1, 0, n*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]uint64, 0, n), func() {} // on the heap, then
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n)[:0], func() { _ = syscall.Munmap(b) }
}
