package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p-kad-dht/amino"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

const (
	nServers    = 60
	serverDial  = 25 // each server dials this many others
	minServerRT = 20
	nCIDs       = 2000
	sampleCIDs  = 200
	replication = 20
)

// linger is how long Run keeps the host up after done; GOSWEEP_LINGER
// overrides it when checking whether records still in flight matter.
var linger = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("GOSWEEP_LINGER")); err == nil {
		return d
	}
	return time.Second
}()

// buggyAllocation lists kad-dht versions whose SweepingProvider sends a key's
// records to the wrong peers of its region whenever the network splits into
// more than one region: provider.go:2043 passes the region's peer trie, a
// subtrie rooted at depth len(prefix) (internal/keyspace/trie.go:642,664), to
// AllocateToKClosest, which walks it from depth 0 (trie.go:477) alongside a
// key trie rooted at the keyspace root (trie.go:677). Records still land in
// the right region, so recall against the XOR-closest 20 drops to about
// 20/region size. With one region (prefix "") the tries line up and recall is
// 1; TestSingleRegionControl checks that.
var buggyAllocation = map[string]bool{"v0.42.2": true}

// TestSweepOnLocalNetwork runs the provider in-process against 60 servers and
// checks the outcome on the servers themselves, then runs the command line
// end to end (files, flags, JSON) on the same network.
func TestSweepOnLocalNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 60 DHT servers")
	}
	servers := startServers(t, 1, nServers, serverDial, minServerRT)
	entry := entryPoints(servers, 5)

	t.Run("in-process", func(t *testing.T) {
		keys := randomKeys(t, nCIDs)
		res := runInProcess(t, entry, keys)
		recall, holders := outcome(t, servers, keys[:sampleCIDs], res.PeerID)

		// Every record the sender counted reached a server: each sampled key
		// sits on exactly `replication` servers.
		check(t, holders[0] == replication && holders[1] == replication,
			"holders per key %d..%d, want %d", holders[0], holders[1], replication)
		version := moduleVersion("github.com/libp2p/go-libp2p-kad-dht")
		if buggyAllocation[version] {
			t.Logf("kad-dht %s: known wrong-peer allocation within split regions, recall %.3f is expected below 0.9", version, recall)
			check(t, recall >= 0.5, "recall %.3f", recall)
		} else {
			check(t, recall >= 0.9, "recall %.3f < 0.9", recall)
		}

		check(t, !res.TimedOut, "timedOut")
		check(t, res.CIDs == nCIDs, "cids %d", res.CIDs)
		check(t, res.WallMs > 0 && res.CPUMs > 0, "wallMs %d cpuMs %d", res.WallMs, res.CPUMs)
		check(t, res.KeysProvided >= nCIDs && res.KeysFailed == 0, "keysProvided %d failed %d", res.KeysProvided, res.KeysFailed)
		// A sweep makes a handful of lookups per region, far fewer than one
		// per key.
		check(t, res.Lookups > 0 && res.Lookups < nCIDs/10, "lookups %d", res.Lookups)
		ratio := float64(res.Records) / (replication * nCIDs)
		check(t, ratio >= 0.9 && ratio <= 1.5, "records %d = %.2f × 20 × cids", res.Records, ratio)
		check(t, res.StatsRecords == res.Records, "provider counted %d records, sender %d", res.StatsRecords, res.Records)
		check(t, res.Regions != nil && *res.Regions >= 1 && *res.Regions <= nServers/replication, "regions %v", res.Regions)
		check(t, res.PeersReached >= nServers*3/4 && res.PeersReached <= nServers, "peersReached %d", res.PeersReached)
		// Joining already connects to most servers and the provide window may
		// reuse them all, so only the total has to be non-zero.
		check(t, res.SetupConnections+res.Connections > 0 && res.Connections <= nServers,
			"connections setup %d window %d", res.SetupConnections, res.Connections)
	})

	t.Run("command", func(t *testing.T) {
		dir := t.TempDir()
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		must(t, err)
		keyBytes, err := crypto.MarshalPrivateKey(priv)
		must(t, err)
		idFile := filepath.Join(dir, "identity.key")
		cidFile := filepath.Join(dir, "cids.txt")
		var lines []string
		for _, k := range randomKeys(t, 200) {
			lines = append(lines, cid.NewCidV1(cid.Raw, k).String())
		}
		lines = append(lines, lines[0]) // a duplicate is skipped, not provided twice
		must(t, os.WriteFile(idFile, keyBytes, 0o600))
		must(t, os.WriteFile(cidFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
		var boot []string
		for _, ai := range entry {
			addrs, err := peer.AddrInfoToP2pAddrs(&ai)
			must(t, err)
			boot = append(boot, addrs[0].String())
		}

		var stdout, stderr bytes.Buffer
		code := realMain([]string{"--bootstrap", strings.Join(boot, ","), "--cids", cidFile,
			"--identity", idFile, "--announce", "/ip4/127.0.0.1/tcp/4001", "--timeout", "60s",
			"--linger", linger.String()}, &stdout, &stderr)
		t.Logf("stdout: %s\nstderr: %s", stdout.String(), stderr.String())
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var res Result
		must(t, json.Unmarshal(stdout.Bytes(), &res))
		want, err := peer.IDFromPrivateKey(priv)
		must(t, err)
		check(t, res.PeerID == want.String(), "peerId %s, want the identity's %s", res.PeerID, want)
		check(t, res.CIDs == 200 && res.DuplicateCIDsSkipped == 1, "cids %d dupes %d", res.CIDs, res.DuplicateCIDsSkipped)
		check(t, res.Records >= 200*replication*9/10, "records %d", res.Records)

		// The server answers with the addresses in its peerstore, which also
		// holds the listen address identify told it; the announced one must
		// be among them.
		k := mustDecodeCID(t, lines[0])
		var holder testServer
		for _, s := range servers {
			if provs, _ := s.d.ProviderStore().GetProviders(context.Background(), k); len(provs) > 0 {
				holder = s
			}
		}
		if holder.d == nil {
			t.Fatal("no server holds the first CID")
		}
		provs, _ := holder.d.ProviderStore().GetProviders(context.Background(), k)
		found := false
		for _, p := range provs {
			for _, a := range p.Addrs {
				found = found || p.ID == want && a.String() == "/ip4/127.0.0.1/tcp/4001"
			}
		}
		check(t, found, "the record does not carry the --announce address: %v", provs)
	})

	t.Run("timeout gives a partial result", func(t *testing.T) {
		// Setup alone takes a few hundred ms here, so this deadline hits
		// during setup or early in the provide window; either way the result
		// must say so and carry what was measured.
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		res, err := Run(ctx, Config{Bootstrap: entry, Protocol: amino.ProtocolID, Keys: randomKeys(t, nCIDs), BootstrapWait: 20 * time.Second})
		t.Logf("err: %v; peerId %s, records %d, keysProvided %d", err, res.PeerID, res.Records, res.KeysProvided)
		check(t, err != nil && res.TimedOut && res.PeerID != "", "err %v timedOut %v", err, res.TimedOut)
	})

	t.Run("bad input exits 1", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := realMain([]string{"--bootstrap", "/ip4/127.0.0.1/tcp/1", "--cids", "/nonexistent"}, &stdout, &stderr); code != 1 {
			t.Fatalf("exit %d, stderr %s", code, stderr.String())
		}
	})
}

// TestSingleRegionControl is the control for the recall measurement: 30
// servers are too few to split into two regions of 20, so the provider works
// on one region rooted at the keyspace root, where its allocation is right,
// and recall must be (nearly) perfect. A low value here would mean the
// harness, not the provider, is wrong.
func TestSingleRegionControl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 DHT servers")
	}
	servers := startServers(t, 2, 30, 20, 15)
	keys := randomKeys(t, 500)
	res := runInProcess(t, entryPoints(servers, 3), keys)
	recall, holders := outcome(t, servers, keys[:sampleCIDs], res.PeerID)
	check(t, res.Regions != nil && *res.Regions == 1, "regions %v", res.Regions)
	check(t, holders[0] == replication && holders[1] == replication, "holders per key %d..%d", holders[0], holders[1])
	check(t, recall >= 0.95, "recall %.3f", recall)
}

func runInProcess(t *testing.T, entry []peer.AddrInfo, keys []mh.Multihash) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{
		Bootstrap:     entry,
		Protocol:      amino.ProtocolID,
		Keys:          keys,
		BootstrapWait: 20 * time.Second,
		Linger:        linger,
		StatsInterval: 2 * time.Second,
		Progress:      testLog{t},
	})
	out, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("result:\n%s", out)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// outcome reads the servers' provider stores for the sample: recall is the
// share of (key, one of its 20 XOR-closest servers) pairs where the server
// holds our record; holders is the min and max number of servers, among all,
// holding a key.
func outcome(t *testing.T, servers []testServer, sample []mh.Multihash, peerID string) (recall float64, holders [2]int) {
	t.Helper()
	pid, err := peer.Decode(peerID)
	must(t, err)
	closest := make(map[peer.ID]bool)
	hits, want := 0, 0
	holders = [2]int{len(servers) + 1, -1}
	for _, k := range sample {
		clear(closest)
		for _, s := range closestServers(servers, k, replication) {
			closest[s.h.ID()] = true
		}
		n := 0
		for _, s := range servers {
			provs, err := s.d.ProviderStore().GetProviders(context.Background(), k)
			must(t, err)
			for _, p := range provs {
				if p.ID == pid {
					n++
					if closest[s.h.ID()] {
						hits++
					}
					break
				}
			}
		}
		want += replication
		holders[0], holders[1] = min(holders[0], n), max(holders[1], n)
	}
	recall = float64(hits) / float64(want)
	t.Logf("recall %.3f (%d/%d), holders per key %d..%d", recall, hits, want, holders[0], holders[1])
	return recall, holders
}

func entryPoints(servers []testServer, n int) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, s := range servers[:n] {
		out = append(out, s.info())
	}
	return out
}

func randomKeys(t *testing.T, n int) []mh.Multihash {
	keys := make([]mh.Multihash, n)
	for i := range keys {
		var b [32]byte
		rand.Read(b[:])
		h, err := mh.Sum(b[:], mh.SHA2_256, -1)
		must(t, err)
		keys[i] = h
	}
	return keys
}

func mustDecodeCID(t *testing.T, s string) mh.Multihash {
	c, err := cid.Decode(s)
	must(t, err)
	return c.Hash()
}

func check(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf("implausible: "+format, args...)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testLog lets --stats-interval progress lines go to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
