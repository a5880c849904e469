package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

// readCIDs returns the multihashes of the CIDs in path, one per line, in file
// order and without duplicates. The provider works on multihashes (that is
// what ADD_PROVIDER carries and what the kad key is hashed from), so the CID
// wrapper is dropped here. Duplicates are removed because the provider
// deduplicates them too, and the completion check counts distinct keys.
func readCIDs(path string) (keys []mh.Multihash, dupes int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()

	seen := make(map[string]struct{})
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		c, err := cid.Decode(s)
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		h := c.Hash()
		if _, ok := seen[string(h)]; ok {
			dupes++
			continue
		}
		seen[string(h)] = struct{}{}
		keys = append(keys, h)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("%s: no CIDs", path)
	}
	return keys, dupes, nil
}

// readIdentity loads a private key stored the way libp2p marshals it
// (protobuf, raw binary). Servers only keep a provider record whose provider
// peer is the authenticated sender, so this key is the provider's identity.
func readIdentity(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a marshalled libp2p private key: %w", path, err)
	}
	return k, nil
}

func parseMultiaddrs(csv string) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for _, s := range strings.Split(csv, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no multiaddrs in %q", csv)
	}
	return out, nil
}

// parseAddrInfos groups full /p2p/ multiaddrs by peer.
func parseAddrInfos(csv string) ([]peer.AddrInfo, error) {
	addrs, err := parseMultiaddrs(csv)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap: %w", err)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil, fmt.Errorf("--bootstrap: %w (each address needs a /p2p/<peer id> suffix)", err)
	}
	return infos, nil
}
