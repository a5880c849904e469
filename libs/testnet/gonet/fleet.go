package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// fleet is every server this process has created, by local index. A slot
// stays nil if its node failed to start.
type fleet struct {
	mu    sync.RWMutex
	nodes []*node
	knob  latencyKnob

	// nudged counts routing-table entries connect had to add itself because
	// kad-dht had not added the peer on its own in time; tests read it.
	nudged atomic.Int64
}

// errNoNode is a bad local index in a request.
var errNoNode = errors.New("no such node")

func (f *fleet) node(i int) (*node, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if i < 0 || i >= len(f.nodes) {
		return nil, fmt.Errorf("%w: %d (have %d)", errNoNode, i, len(f.nodes))
	}
	return f.nodes[i], nil
}

func (f *fleet) snapshot() []*node {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]*node(nil), f.nodes...)
}

type startedNode struct {
	PeerID     string   `json:"peerId"`
	Multiaddrs []string `json:"multiaddrs"`
}

// startWorkers bounds concurrent node creation. Creation is CPU-bound (key
// generation, fx wiring, listener setup); beyond a few per core it only adds
// scheduler churn and a burst of memory.
func startWorkers() int { return 4 * runtime.GOMAXPROCS(0) }

// start creates count servers. Their indices are reserved up front so they
// are contiguous and in creation order even if start calls overlap. If any
// node fails, the ones this call made are stopped and the call fails.
func (f *fleet) start(count int, proto string) ([]startedNode, error) {
	f.mu.Lock()
	first := len(f.nodes)
	f.nodes = append(f.nodes, make([]*node, count)...)
	total := len(f.nodes)
	f.mu.Unlock()
	warnFDs(total)

	made := make([]*node, count)
	errs := make([]error, count)
	forEachBounded(count, startWorkers(), func(i int) {
		n, err := startNode(first+i, proto, &f.knob)
		if err != nil { // a port race or fd hiccup; one retry is cheap
			n, err = startNode(first+i, proto, &f.knob)
		}
		made[i], errs[i] = n, err
	})

	f.mu.Lock()
	copy(f.nodes[first:], made)
	f.mu.Unlock()

	if err := errors.Join(errs...); err != nil {
		forEachBounded(count, startWorkers(), func(i int) {
			if made[i] != nil {
				made[i].stop()
			}
		})
		err = fmt.Errorf("starting nodes %d..%d: %w", first, first+count-1, err)
		fmt.Fprintf(os.Stderr, "gonet: %v\n", err)
		return nil, err
	}
	out := make([]startedNode, count)
	for i, n := range made {
		out[i] = startedNode{PeerID: n.id.String(), Multiaddrs: []string{n.listen.String()}}
	}
	return out, nil
}

// nodesAt resolves request indices, failing on the first bad one.
func (f *fleet) nodesAt(field string, locals []int) ([]*node, error) {
	out := make([]*node, len(locals))
	for i, l := range locals {
		n, err := f.node(l)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out[i] = n
	}
	return out, nil
}

func (f *fleet) stopNodes(locals []int) error {
	ns, err := f.nodesAt("locals", locals)
	if err != nil {
		return err
	}
	forEachBounded(len(ns), 64, func(i int) {
		if ns[i] != nil {
			ns[i].stop()
		}
	})
	return nil
}

func (f *fleet) tarpit(locals []int) error {
	ns, err := f.nodesAt("locals", locals)
	if err != nil {
		return err
	}
	errs := make([]error, len(ns))
	forEachBounded(len(ns), 64, func(i int) {
		if ns[i] == nil {
			errs[i] = fmt.Errorf("locals[%d]: node %d never started", i, locals[i])
			return
		}
		errs[i] = ns[i].tarpitNode()
	})
	return errors.Join(errs...)
}

type tableInfo struct {
	Peers       []string `json:"peers"`
	Connections int      `json:"connections"`
}

func (f *fleet) tables() []*tableInfo {
	ns := f.snapshot()
	out := make([]*tableInfo, len(ns))
	for i, n := range ns {
		if n == nil {
			continue
		}
		d, ok := n.live()
		if !ok {
			continue
		}
		ps := d.RoutingTable().ListPeers()
		t := &tableInfo{Peers: make([]string, len(ps)), Connections: len(n.host.Network().Conns())}
		for j, p := range ps {
			t.Peers[j] = p.String()
		}
		out[i] = t
	}
	return out
}

// closeAll stops every node, giving up after limit so that exit stays prompt
// even if some DHT is slow to wind down.
func (f *fleet) closeAll(limit time.Duration) {
	ns := f.snapshot()
	done := make(chan struct{})
	go func() {
		forEachBounded(len(ns), 64, func(i int) {
			if ns[i] != nil {
				ns[i].stop()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
	}
}

// forEachBounded runs fn(0..n-1) with at most limit calls in flight and
// returns when all are done.
func forEachBounded(n, limit int, fn func(i int)) {
	if limit < 1 {
		limit = 1
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}
