package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/provider"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The SweepingProvider takes its router and its message sender as injected
// interfaces (provider.WithRouter, provider.WithMessageSender), so wrapping
// them counts exactly the lookups and ADD_PROVIDER sends the provider itself
// makes, and nothing the DHT does on its own (routing-table refreshes, serving
// other peers). Counters only ever grow; the run subtracts a snapshot taken
// when providing starts.

// countingRouter counts GetClosestPeers calls. That includes the provider's
// connectivity probes and its network-size estimate, which happen before
// providing starts and so fall into the setup numbers.
type countingRouter struct {
	inner  provider.KadClosestPeersRouter
	calls  atomic.Int64
	failed atomic.Int64
	nanos  atomic.Int64 // time spent in lookups, summed
}

var _ provider.KadClosestPeersRouter = (*countingRouter)(nil)

func (r *countingRouter) GetClosestPeers(ctx context.Context, key string) ([]peer.ID, error) {
	r.calls.Add(1)
	started := time.Now()
	peers, err := r.inner.GetClosestPeers(ctx, key)
	r.nanos.Add(int64(time.Since(started)))
	if err != nil {
		r.failed.Add(1)
	}
	return peers, err
}

// countingSender counts ADD_PROVIDER messages by outcome. A nil error means
// the message was written to the peer's stream; ADD_PROVIDER has no reply, so
// that is as much as the sender (or the provider) can know.
type countingSender struct {
	inner  pb.MessageSender
	sent   atomic.Int64
	failed atomic.Int64
	// lastSent is the wall clock (unix ns) of the latest successful send: the
	// end of the provide work, without the completion poll's 100 ms grain.
	lastSent atomic.Int64
	regions  *regionTracker
	perKey   *keyTimes // nil unless timing single provides
}

var _ pb.MessageSender = (*countingSender)(nil)

func (s *countingSender) SendRequest(ctx context.Context, p peer.ID, m *pb.Message) (*pb.Message, error) {
	return s.inner.SendRequest(ctx, p, m)
}

func (s *countingSender) SendMessage(ctx context.Context, p peer.ID, m *pb.Message) error {
	err := s.inner.SendMessage(ctx, p, m)
	if m.GetType() == pb.Message_ADD_PROVIDER {
		if err != nil {
			s.failed.Add(1)
		} else {
			s.sent.Add(1)
			s.lastSent.Store(time.Now().UnixNano())
			// The provider reuses one message and rewrites Key between sends on
			// the same goroutine, so the key must be read here, synchronously.
			s.regions.observe(p, m.GetKey())
		}
		if s.perKey != nil {
			s.perKey.observe(m.GetKey(), err == nil)
		}
	}
	return err
}

// connCounter counts connections the host opens (outbound) and accepts
// (inbound), from the network notifiee, i.e. at the swarm level: a connection
// the provider's sends reuse is not counted again.
type connCounter struct {
	outbound atomic.Int64
	inbound  atomic.Int64
}

func countConnections(h host.Host) *connCounter {
	c := &connCounter{}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, conn network.Conn) {
			if conn.Stat().Direction == network.DirOutbound {
				c.outbound.Add(1)
			} else {
				c.inbound.Add(1)
			}
		},
	})
	return c
}

// regionTracker infers how many keyspace regions the records went to.
//
// The provider does not export a count of the regions it explored: its stats
// only hold the scheduled prefixes (grouping prefixes of the estimated average
// length, not regions) and an average region size. But regions are disjoint
// sets of peers and each key's records all go to peers of one region, so
// joining every peer that received a key with the first peer that received
// the same key (union-find) leaves one group per region that received
// records. Memory is one entry per key plus one per peer.
type regionTracker struct {
	mu          sync.Mutex
	peerIndex   map[peer.ID]int
	parent      []int
	firstHolder map[string]int
}

func newRegionTracker() *regionTracker {
	return &regionTracker{
		peerIndex:   make(map[peer.ID]int),
		firstHolder: make(map[string]int),
	}
}

func (t *regionTracker) observe(p peer.ID, key []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.peerIndex[p]
	if !ok {
		i = len(t.parent)
		t.peerIndex[p] = i
		t.parent = append(t.parent, i)
	}
	if j, ok := t.firstHolder[string(key)]; ok {
		t.union(i, j)
	} else {
		t.firstHolder[string(key)] = i
	}
}

func (t *regionTracker) find(i int) int {
	for t.parent[i] != i {
		t.parent[i] = t.parent[t.parent[i]]
		i = t.parent[i]
	}
	return i
}

func (t *regionTracker) union(a, b int) {
	ra, rb := t.find(a), t.find(b)
	if ra != rb {
		t.parent[ra] = rb
	}
}

// summary returns the number of inferred regions and of distinct peers that
// received at least one record.
func (t *regionTracker) summary() (regions, peers int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.parent {
		if t.find(i) == i {
			regions++
		}
	}
	return regions, len(t.parent)
}

// staticAddrs returns a self-address function for --announce.
func staticAddrs(addrs []ma.Multiaddr) func() []ma.Multiaddr {
	return func() []ma.Multiaddr { return addrs }
}
