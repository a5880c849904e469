package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/amino"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// newHost starts a libp2p host with only what the test network speaks (TCP,
// noise, yamux) on loopback. Everything else stays at go-libp2p's defaults:
// its resource manager and connection limiter already exempt 127.0.0.0/8, so
// nothing there needs relaxing for a loopback network.
func newHost(priv crypto.PrivKey) (host.Host, error) {
	return libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
	)
}

// newDHT builds the DHT the SweepingProvider will use as its router.
//
// Mode: Kubo's default routing ("auto") runs the DHT in auto mode, which
// switches to server mode once AutoNAT finds the node publicly reachable; a
// node set to Routing.Type=dhtserver is a server from the start. On loopback
// AutoNAT never reports public reachability, so auto mode would leave us a
// client, which is what Kubo does only for unreachable nodes. A provider
// serving content is reachable by definition, so we pin server mode: the same
// state Kubo converges to for such a node.
//
// Filters: a plain dht.New in v0.42.2 has no query filter, no routing-table
// filter, no diversity filter and no address filter (internal/config
// Defaults). Kubo runs the dual DHT, whose WAN half adds PublicQueryFilter,
// PublicRoutingTableFilter, an IP-group diversity filter and a public-only
// address filter (dual/dual.go); every one of those rejects 127.0.0.1, and the
// diversity filter would cap a table whose peers share one IP. Leaving them
// out is the only relaxation; nothing else about the DHT is changed.
func newDHT(h host.Host, proto protocol.ID, bootstrap []peer.AddrInfo) (*dht.IpfsDHT, error) {
	opts := []dht.Option{
		dht.Mode(dht.ModeServer),
		dht.BootstrapPeers(bootstrap...),
	}
	if proto != amino.ProtocolID {
		// V1ProtocolOverride is the option that takes a full protocol id; the
		// default id keeps the stock configuration (and its validation).
		opts = append(opts, dht.V1ProtocolOverride(proto))
	}
	return dht.New(h, opts...)
}

// joinNetwork connects to the entry points and waits, at most maxWait, for
// the routing table to fill: first for the entry points themselves to be
// added (that happens asynchronously after identify), then for one routing
// table refresh, whose lookups discover the rest of the buckets. It returns
// the routing table size. Running out of maxWait is not an error as long as
// the table is not empty; the provider copes with a thin table, and the size
// is reported.
func joinNetwork(ctx context.Context, h host.Host, d *dht.IpfsDHT, peers []peer.AddrInfo, maxWait time.Duration) (int, error) {
	wctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()

	var ok atomic.Int32
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ai := range peers {
		wg.Go(func() {
			if err := h.Connect(wctx, ai); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	if ok.Load() == 0 {
		return 0, fmt.Errorf("could not connect to any of %d bootstrap peers: %v", len(peers), firstErr)
	}

	want := min(int(ok.Load()), d.BucketSize())
	for d.RoutingTable().Size() < want && wctx.Err() == nil {
		sleep(wctx, 50*time.Millisecond)
	}
	select {
	case <-d.RefreshRoutingTable():
	case <-wctx.Done():
	}
	if err := ctx.Err(); err != nil {
		return d.RoutingTable().Size(), err
	}
	if n := d.RoutingTable().Size(); n == 0 {
		return 0, fmt.Errorf("routing table still empty after %s", maxWait)
	}
	return d.RoutingTable().Size(), nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
