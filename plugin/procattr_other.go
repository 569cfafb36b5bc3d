//go:build !linux

package plugin

import (
	"os/exec"
)

// setParentDeathSignal is a no-op where the kernel has no such signal.
func setParentDeathSignal(*exec.Cmd) {}
