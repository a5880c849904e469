package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testServer is one unmodified go-libp2p-kad-dht server of the in-process
// test network. The gonet test network elsewhere in the repo is the real
// target; this one only exists so the benchmark can test itself.
type testServer struct {
	h host.Host
	d *dht.IpfsDHT
}

func (s testServer) info() peer.AddrInfo { return peer.AddrInfo{ID: s.h.ID(), Addrs: s.h.Addrs()} }

// startServers starts n DHT servers on 127.0.0.1 with stock options (server
// mode, default protocol, no filters), has each dial `degree` random others,
// then waits until every routing table holds at least `minRT` peers and one
// refresh has run everywhere, so lookups see a settled network. Server keys
// come from `seed`, so a given seed always gives the same keyspace layout
// (and the same regions).
func startServers(t *testing.T, seed uint64, n, degree, minRT int) []testServer {
	t.Helper()
	keys := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	servers := make([]testServer, n)
	for i := range servers {
		priv, _, err := crypto.GenerateEd25519Key(keys)
		if err != nil {
			t.Fatal(err)
		}
		h, err := newHost(priv)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dht.New(h, dht.Mode(dht.ModeServer))
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = testServer{h, d}
		t.Cleanup(func() { d.Close(); h.Close() })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			for _, j := range mrand.Perm(n)[:degree+1] {
				if j != i {
					_ = s.h.Connect(ctx, servers[j].info())
				}
			}
		})
	}
	wg.Wait()

	for _, s := range servers {
		for s.d.RoutingTable().Size() < minRT {
			if ctx.Err() != nil {
				t.Fatalf("routing table of %s stuck at %d peers", s.h.ID(), s.d.RoutingTable().Size())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, s := range servers {
		wg.Go(func() {
			select {
			case <-s.d.RefreshRoutingTable():
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	return servers
}

// kadKey is SHA-256 of the bytes: the point a multihash or a peer ID maps to.
func kadKey(b []byte) [32]byte { return sha256.Sum256(b) }

// closestServers returns the k servers XOR-closest to key (a multihash).
func closestServers(servers []testServer, key []byte, k int) []testServer {
	target := kadKey(key)
	dist := func(s testServer) []byte {
		pk := kadKey([]byte(s.h.ID()))
		d := make([]byte, len(pk))
		for i := range pk {
			d[i] = pk[i] ^ target[i]
		}
		return d
	}
	sorted := slices.Clone(servers)
	slices.SortFunc(sorted, func(a, b testServer) int { return bytes.Compare(dist(a), dist(b)) })
	return sorted[:min(k, len(sorted))]
}
