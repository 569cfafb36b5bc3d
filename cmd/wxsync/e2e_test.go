package main

import (
	"fmt"
	"testing"

	"github.com/wxsync/wxsync/connector/wxsim"
)

func TestSyncExactFollowerSet(t *testing.T) {
	for _, n := range []int{0, 1, 9999, 10000, 10001, 23000} {
		for _, style := range []wxsim.EndStyle{wxsim.EndCountZero, wxsim.EndEmptyNext} {
			t.Run(fmt.Sprintf("n=%d/%v", n, style), func(t *testing.T) {
				opts := wxsim.DefaultOptions()
				opts.Followers, opts.EndStyle = n, style
				e := newEnv(t, opts)
				e.sync(exitOK)
				e.wantCurrent()
			})
		}
	}
}
