//go:build !(linux || darwin)

package sink

// offHeap returns an empty slice with room for n values of T, on the Go
// heap on this platform (see the Linux version).
func offHeap[T uint32 | uint64](owner *FreshSet, n int) []T {
	return make([]T, 0, n)
}

// offHeapChunk returns an empty slice with room for n uint64s, on the Go
// heap on this platform, and a release function that does nothing.
func offHeapChunk(n int) ([]uint64, func()) { return make([]uint64, 0, n), func() {} }

// useHugePages does nothing on this platform (see the Linux version).
func useHugePages[T uint32 | uint64]([]T) {}
