package main

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

const (
	dialTimeout       = 10 * time.Second
	selfLookupTimeout = 60 * time.Second
	// rtSettle is how long connect waits for kad-dht to admit the peers it
	// dialled before it adds the stragglers itself.
	rtSettle = 3 * time.Second
)

type dialJob struct {
	n  *node
	ai peer.AddrInfo
}

var errNotLive = errors.New("local node is not live")

func (j dialJob) dial(retry bool) error {
	if _, ok := j.n.live(); !ok {
		return errNotLive
	}
	if j.ai.ID == j.n.id {
		return errors.New("cannot dial self")
	}
	if sw, ok := j.n.host.Network().(*swarm.Swarm); ok && retry {
		// The failed first dial put the address in the swarm's dial backoff
		// (5 s and up), which would fail the retry without dialling.
		sw.Backoff().Clear(j.ai.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	// Connect returns once identify has run on the new connection, so the
	// peerstore already knows whether the target speaks our kad protocol.
	return j.n.host.Connect(ctx, j.ai)
}

// connect dials every job with at most conc dials in flight, retries the
// failures once after everything else, then makes sure each reached target
// is in its dialler's routing table.
func (f *fleet) connect(jobs []dialJob, conc int) (ok, failed int) {
	errs := make([]error, len(jobs))
	forEachBounded(len(jobs), conc, func(i int) { errs[i] = jobs[i].dial(false) })

	var retry []int
	for i, err := range errs {
		if err != nil && !errors.Is(err, errNotLive) {
			retry = append(retry, i)
		}
	}
	forEachBounded(len(retry), conc, func(k int) { errs[retry[k]] = jobs[retry[k]].dial(true) })

	var reached []dialJob
	for i, err := range errs {
		if err != nil {
			failed++
			continue
		}
		ok++
		reached = append(reached, jobs[i])
	}
	f.settleRoutingTables(reached)
	return ok, failed
}

// settleRoutingTables waits for kad-dht to admit the dialled peers, then
// adds the rest itself.
//
// kad-dht admits a peer on its own: identify completes -> EvtPeerIdentification
// Completed -> peerFound -> validRTPeer (the peer lists our protocol) -> a
// FIND_NODE "lookupCheck" to that peer -> TryAddPeer (subscriber_notifee.go,
// dht.go peerFound). That normally takes one round trip, but the lookupCheck
// fails when the target answers with no peers while our table already holds
// >= 20 (dht.go lookupCheck): the target excludes us, the requester, from its
// answer, so a fresh target that knows only us looks broken. For those, and
// for checks still in flight at the deadline, we do what lookupCheck's
// success would have done, through the routing table's public TryAddPeer,
// and only for a connected peer that advertises the protocol.
func (f *fleet) settleRoutingTables(jobs []dialJob) {
	missing := func(j dialJob) bool {
		d, ok := j.n.live()
		return ok && d.RoutingTable().Find(j.ai.ID) == ""
	}
	deadline := time.Now().Add(rtSettle)
	for {
		var still []dialJob
		for _, j := range jobs {
			if missing(j) {
				still = append(still, j)
			}
		}
		jobs = still
		if len(jobs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	for _, j := range jobs {
		d, ok := j.n.live()
		if !ok || j.n.host.Network().Connectedness(j.ai.ID) != network.Connected {
			continue
		}
		if sp, _ := j.n.host.Peerstore().SupportsProtocols(j.ai.ID, protocol.ID(j.n.proto)); len(sp) == 0 {
			continue
		}
		if added, _ := d.RoutingTable().TryAddPeer(j.ai.ID, true, false); added {
			f.nudged.Add(1)
		}
	}
}

// selfLookup runs GetClosestPeers(own id) on every live node, conc at a
// time, and counts the lookups that failed.
func (f *fleet) selfLookup(conc int) int {
	ns := f.snapshot()
	var failed atomic.Int64
	forEachBounded(len(ns), conc, func(i int) {
		if ns[i] == nil {
			return
		}
		d, ok := ns[i].live()
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), selfLookupTimeout)
		defer cancel()
		if _, err := d.GetClosestPeers(ctx, string(ns[i].id)); err != nil {
			failed.Add(1)
		}
	})
	return int(failed.Load())
}
