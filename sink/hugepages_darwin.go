package sink

// adviseHugePages does nothing on macOS, which has no transparent huge
// pages to ask for (see the Linux version).
func adviseHugePages([]byte) {}
