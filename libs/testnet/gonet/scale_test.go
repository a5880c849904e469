package main

import (
	"context"
	"encoding/base64"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestScale measures start-up, memory, wiring and holders at size. It is
// skipped unless GONET_SCALE=<servers> is set, e.g.
//
//	GONET_SCALE=1000 GONET_WIRE=0 GONET_KEYS=100000 go test -run TestScale -v -timeout 10m
//
// GONET_WIRE (default 1) wires each server to its 20 nearest; mind the fd
// limit: in one process every connection costs two fds.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GONET_SCALE"))
	if n == 0 {
		t.Skip("set GONET_SCALE=<servers> to run")
	}
	wire := os.Getenv("GONET_WIRE") != "0"
	keys := 100000
	if v, err := strconv.Atoi(os.Getenv("GONET_KEYS")); err == nil {
		keys = v
	}

	s := newServer()
	defer s.f.closeAll(time.Minute)
	base := rssMiB()
	start := time.Now()
	var started []startedNode
	call(t, s, map[string]any{"op": "start", "count": n, "protocol": testProto}, &started)
	t.Logf("start %d servers: %v", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	runtime.GC()
	after := rssMiB()
	t.Logf("RSS %d -> %d MiB: %.0f KiB per idle server", base, after, float64(after-base)*1024/float64(n))

	ids := make([]peer.ID, n)
	for i, sn := range started {
		ids[i] = addrInfo(t, sn).ID
	}
	if wire {
		var plan []map[string]any
		for i := range ids {
			others := slices.DeleteFunc(slices.Clone(ids), func(p peer.ID) bool { return p == ids[i] })
			var targets []map[string]any
			for p := range closest(others, []byte(ids[i]), 20) {
				j := slices.Index(ids, p)
				targets = append(targets, map[string]any{"peerId": p.String(), "multiaddrs": started[j].Multiaddrs})
			}
			plan = append(plan, map[string]any{"local": i, "targets": targets})
		}
		start = time.Now()
		var res struct{ OK, Failed int }
		call(t, s, map[string]any{"op": "connect", "plan": plan, "concurrency": 64}, &res)
		t.Logf("connect %d dials: %+v in %v, nudged %d", n*20, res, time.Since(start).Round(time.Millisecond), s.f.nudged.Load())
		start = time.Now()
		var sl struct{ Failed int }
		call(t, s, map[string]any{"op": "selfLookup", "concurrency": 16}, &sl)
		t.Logf("selfLookup: %+v in %v", sl, time.Since(start).Round(time.Millisecond))
		time.Sleep(5 * time.Second)
		var tables []*tableInfo
		call(t, s, map[string]any{"op": "tables"}, &tables)
		conns, rt := 0, 0
		for _, tb := range tables {
			conns += tb.Connections
			rt += len(tb.Peers)
		}
		t.Logf("after wiring: RSS %d MiB, mean %.1f connections and %.1f RT peers per server, fds %d",
			rssMiB(), float64(conns)/float64(n), float64(rt)/float64(n), fds())
	}

	if keys == 0 {
		return
	}
	// Records go in through kad-dht's own ProviderStore, 20 servers per key
	// (the 20 closest), then holders is asked about all of them at once.
	prov := ids[0]
	addr, _ := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/4001")
	kids := make([]kb.ID, n)
	for i, id := range ids {
		kids[i] = kb.ConvertPeerID(id)
	}
	mhs := make([]string, keys)
	start = time.Now()
	for k := range keys {
		c := randomCID(t)
		mhs[k] = base64.StdEncoding.EncodeToString(c.Hash())
		target := kb.ConvertKey(string(c.Hash()))
		for _, i := range nearest(kids, target, 20) {
			nd, _ := s.f.node(i)
			_ = nd.dht.ProviderStore().AddProvider(context.Background(), c.Hash(), peer.AddrInfo{ID: prov, Addrs: []ma.Multiaddr{addr}})
			// What the OnRequestHook notes when the record comes over the wire.
			nd.notes.m[provKey(seg(c.Hash()), seg([]byte(prov)))] = time.Now()
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("stored %d records in %v; RSS %d MiB, live heap %d MiB", keys*20, time.Since(start).Round(time.Millisecond), rssMiB(), ms.HeapAlloc>>20)
	start = time.Now()
	var holders [][]int
	call(t, s, map[string]any{"op": "holders", "multihashes": mhs, "provider": prov.String()}, &holders)
	total := 0
	for _, h := range holders {
		total += len(h)
	}
	t.Logf("holders for %d multihashes over %d servers: %v, %d holdings", keys, n, time.Since(start).Round(time.Millisecond), total)
	if total != keys*20 {
		t.Errorf("holders found %d of %d records", total, keys*20)
	}
}

// nearest returns the indices of the k ids closest to target, without
// allocating per comparison.
func nearest(ids []kb.ID, target kb.ID, k int) []int {
	less := func(a, b int) bool {
		for j := range target {
			x, y := ids[a][j]^target[j], ids[b][j]^target[j]
			if x != y {
				return x < y
			}
		}
		return false
	}
	top := make([]int, 0, k+1)
	for i := range ids {
		if len(top) == k && !less(i, top[k-1]) {
			continue
		}
		at := len(top)
		for at > 0 && less(i, top[at-1]) {
			at--
		}
		top = slices.Insert(top, at, i)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

func rssMiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for l := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	return 0
}

func fds() int {
	es, _ := os.ReadDir("/proc/self/fd")
	return len(es)
}
