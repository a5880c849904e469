package main

import (
	"context"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/amino"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/provider"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

// Kubo's Provide.DHT defaults (kubo config/provide.go). All but MaxWorkers
// equal the provider library's own defaults; Kubo raises MaxWorkers from 4 to
// 16, which matters once there are more than a couple of regions to provide
// in parallel. Two workers are reserved for periodic reprovides, so a burst of
// new keys gets MaxWorkers-2 concurrent region jobs.
const (
	kuboMaxWorkers               = 16
	kuboDedicatedPeriodicWorkers = 2
	kuboDedicatedBurstWorkers    = 1
	kuboMaxProvideConnsPerWorker = 20
)

// providerOptions configures a SweepingProvider the way Kubo's dual-DHT
// provider configures each of its halves (provider/dual in kad-dht, called
// from Kubo's SweepingProviderOpt), for Provide.Strategy=all with the sweep
// enabled. Every algorithm parameter is set to the value Kubo uses, spelled
// out so the JSON's claims can be checked against this list:
//
//   - replication factor 20 (the DHT's bucket size), reprovide interval 22 h,
//     max reprovide delay 1 h, offline delay 2 h, online re-check 1 min;
//   - workers as above, 20 connections per worker.
//
// Nothing is changed to run on a small network. The provider takes no
// network-size input: it estimates the region prefix length itself with a few
// lookups when it first comes online (approxPrefixLen), and every region it
// explores is widened until it holds at least 20 peers.
//
// Not taken from Kubo, on purpose:
//   - the keystore and datastore are left to the provider's in-memory
//     defaults (Kubo persists them in its repo; nothing is resumed here);
//   - Kubo wraps the provider in provider/buffered, a persistent queue that
//     feeds StartProviding in batches of 1024 keys; the run hands all keys
//     to the provider directly, so the buffer's queueing is not measured.
func providerOptions(h host.Host, d *dht.IpfsDHT, router provider.KadClosestPeersRouter,
	sender pb.MessageSender, selfAddrs func() []ma.Multiaddr, maxWorkers int) []provider.Option {
	return []provider.Option{
		// WithHost (as the dual provider does) lets the provider protect the
		// connections it is sending on and pin its peers' addresses meanwhile.
		provider.WithHost(h),
		provider.WithRouter(router),
		provider.WithMessageSender(sender),
		provider.WithSelfAddrs(selfAddrs),
		// Like Kubo: also record ourselves as a provider in our own DHT's
		// provider store (a local write, no network).
		provider.WithAddLocalRecord(func(ctx context.Context, h mh.Multihash) error {
			return d.Provide(ctx, cid.NewCidV1(cid.Raw, h), false)
		}),

		provider.WithReplicationFactor(d.BucketSize()),
		provider.WithReprovideInterval(amino.DefaultReprovideInterval),
		provider.WithMaxReprovideDelay(provider.DefaultMaxReprovideDelay),
		provider.WithOfflineDelay(provider.DefaultOfflineDelay),
		provider.WithConnectivityCheckOnlineInterval(provider.DefaultConnectivityCheckOnlineInterval),
		provider.WithSendProviderRecordTimeout(provider.DefaultSendProviderRecordTimeout),

		provider.WithMaxWorkers(maxWorkers),
		provider.WithDedicatedPeriodicWorkers(kuboDedicatedPeriodicWorkers),
		provider.WithDedicatedBurstWorkers(kuboDedicatedBurstWorkers),
		provider.WithMaxProvideConnsPerWorker(kuboMaxProvideConnsPerWorker),
	}
}
