package main

import (
	"crypto/rand"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// newHost builds a libp2p host the way a stock node would, minus the
// transports and services the test network has no use for.
//
// What stays at go-libp2p v0.49.0's defaults, on purpose, because sweep must
// survive what stock servers enforce:
//   - resource manager: rcmgr.DefaultLimits + SetDefaultServiceLimits,
//     AutoScale'd to 1/8 of RAM and half the fd limit. On a 24 GiB box with
//     nofile 20000 that is, per peer: 8 conns (not scaled), 632 inbound
//     streams; per protocol (kad has no specific limit): 1265 inbound
//     streams; per peer+protocol: 75 inbound streams; system: 252 inbound
//     conns, 4037 inbound streams, 10000 fds. Plus 8 concurrent conns and
//     0.2 new conns/s (burst 16) per IPv4 address, both waived for 127/8.
//   - connection manager: connmgr.NewConnManager(160, 192): trims to 160
//     when above 192 conns, sparing peers seen in the last minute (grace) and
//     checking every 10 s (silence period).
//   - peerstore, identify, ping, the AutoNAT v1 client.
//
// Departures: TCP only, noise only, yamux only (what sweep speaks), no relay,
// no NAT port mapping (off by default anyway) and no Prometheus metrics:
// metrics only observe, and with a thousand hosts in one process every host
// would register into one global registry for nothing.
func newHost(key crypto.PrivKey, listen ...string) (host.Host, error) {
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}
	if len(listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrStrings(listen...))
	}
	return libp2p.New(opts...)
}

func newIdentity() (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	return k, err
}

// dhtOptions are shared by servers and the findprovs client.
//
// Loopback: dht.New in v0.42.2 filters nothing by default (internal/config
// Defaults: EmptyQueryFilter, EmptyRTFilter, no AddressFilter, no RT
// diversity filter), so loopback peers are queried, enter routing tables and
// keep their addresses in provider records without any option. What does
// drop loopback is the set of options the dual package (dual/dual.go, what
// Kubo runs) adds on top: PublicQueryFilter, PublicRoutingTableFilter, the
// IP diversity filter and an AddressFilter keeping only public addresses.
// We simply don't add them; nothing needs relaxing. (identify, in go-libp2p,
// keeps a peer's loopback listen addrs when the connection itself is over
// loopback, which every connection here is.)
//
// The full protocol id goes through V1ProtocolOverride rather than
// ProtocolPrefix so that any id works, not only "<prefix>/kad/1.0.0", and so
// that Amino's config validation (keyed on the prefix) still applies.
func dhtOptions(proto string, mode dht.ModeOpt, providers ds.Batching) []dht.Option {
	opts := []dht.Option{
		dht.Mode(mode),
		dht.V1ProtocolOverride(protocol.ID(proto)),
	}
	if providers != nil {
		opts = append(opts, dht.ProviderDatastore(providers))
	}
	return opts
}
