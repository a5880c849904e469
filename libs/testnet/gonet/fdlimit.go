package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// fdsPerWiredServer is what one server held once wired (20 nearest + what
// kad-dht's own refreshes add), measured at 300 servers in one process: ~49.
// Every connection is a descriptor at each end, in whichever process.
const fdsPerWiredServer = 50

// raiseFDLimit lifts the descriptor limit as far as we are allowed. Go
// already raises the soft limit to the hard one at start-up; with
// CAP_SYS_RESOURCE the hard limit itself can go up to fs.nr_open. Failing is
// fine: warnFDs tells the parent what that means.
func raiseFDLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	want := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			want = n
		}
	}
	if lim.Max < want {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
			return
		}
	}
	if lim.Cur < lim.Max {
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max})
	}
}

var fdWarning sync.Once

// warnFDs says once, on stderr, when this many servers will likely run out
// of descriptors after wiring: the symptom (failed dials, "too many open
// files") is otherwise far from the cause.
func warnFDs(servers int) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	if need := uint64(servers) * fdsPerWiredServer; need > lim.Cur {
		fdWarning.Do(func() {
			fmt.Fprintf(os.Stderr, "gonet: %d servers need about %d descriptors once wired, the limit is %d (and cannot be raised here): spread them over more processes\n",
				servers, need, lim.Cur)
		})
	}
}
