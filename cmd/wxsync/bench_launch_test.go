package main

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/host"
)

// launchCost is what starting and stopping one source plugin costs, with
// nothing synced: the launch, the go-plugin handshake over mutual TLS (the
// default) and the kill, as `wxsync sync --accounts` pays it per plugin.
type launchCost struct {
	pluginCPU, hostCPU time.Duration // per launch
	pluginFaults       int64         // minor page faults per launch
}

// benchLaunchCost launches the plugin n times in a row, each stopped at once,
// and measures each launch's CPU (the plugins' from this process's
// RUSAGE_CHILDREN, the host side's from RUSAGE_SELF, which also counts
// whatever else this process does meanwhile) and page faults.
func benchLaunchCost(b *testing.B, n int) launchCost {
	creds, err := plugin.NewCredentials()
	if err != nil {
		b.Fatal(err)
	}
	cfg := host.LaunchConfig{Path: filepath.Join(binDir, host.PluginBinary), MTLS: true, Credentials: creds,
		Logger: hclog.NewNullLogger(), Environ: []string{}}
	child0, self0 := benchRusage(b, syscall.RUSAGE_CHILDREN), benchRusage(b, syscall.RUSAGE_SELF)
	for range n {
		src, err := host.Launch(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		src.Close() // waits for the plugin to exit, so RUSAGE_CHILDREN counts it
	}
	child1, self1 := benchRusage(b, syscall.RUSAGE_CHILDREN), benchRusage(b, syscall.RUSAGE_SELF)
	return launchCost{
		pluginCPU:    (rusageCPU(child1) - rusageCPU(child0)) / time.Duration(n),
		hostCPU:      (rusageCPU(self1) - rusageCPU(self0)) / time.Duration(n),
		pluginFaults: (child1.Minflt - child0.Minflt) / int64(n),
	}
}

// benchRusage is getrusage(who).
func benchRusage(b *testing.B, who int) syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return ru
}

// rusageCPU is ru's user and system time.
func rusageCPU(ru syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchFaultCost is the CPU one minor page fault costs on this machine: it
// maps 64 MiB and writes one byte to each page, each write a fault. It runs
// before the benchmark starts anything else in its process.
func benchFaultCost(b *testing.B) time.Duration {
	const pages = 16384
	mem, err := syscall.Mmap(-1, 0, pages*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Munmap(mem)
	ru0 := benchRusage(b, syscall.RUSAGE_SELF) // the whole process's: it does nothing else meanwhile
	for i := 0; i < pages; i++ {
		mem[i*4096] = 1
	}
	ru1 := benchRusage(b, syscall.RUSAGE_SELF)
	if faults := ru1.Minflt - ru0.Minflt; faults < pages {
		b.Fatalf("touching %d fresh pages made %d faults", pages, faults)
	}
	return (rusageCPU(ru1) - rusageCPU(ru0)) / pages
}
