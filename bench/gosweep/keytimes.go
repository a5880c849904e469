package main

import (
	"sync"
	"time"
)

// keyTimes records, per key, when its first and last ADD_PROVIDER left and
// how many did or failed: the go side of a first-provide latency run, which
// is timed from handing the provider one CID to its records on the wire.
type keyTimes struct {
	mu   sync.Mutex
	byMH map[string]*sendTimes
}

type sendTimes struct {
	first, last time.Time
	sent        int
	failed      int
}

func newKeyTimes() *keyTimes { return &keyTimes{byMH: make(map[string]*sendTimes)} }

func (k *keyTimes) observe(key []byte, ok bool) {
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.byMH[string(key)]
	if t == nil {
		t = &sendTimes{}
		k.byMH[string(key)] = t
	}
	if !ok {
		t.failed++
		return
	}
	if t.sent == 0 {
		t.first = now
	}
	t.last = now
	t.sent++
}

// take returns the key's record and forgets it, so memory stays flat over a
// long run.
func (k *keyTimes) take(key []byte) sendTimes {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.byMH[string(key)]
	delete(k.byMH, string(key))
	if t == nil {
		return sendTimes{}
	}
	return *t
}
