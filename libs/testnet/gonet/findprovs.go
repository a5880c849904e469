package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	// rtFillLimit bounds the wait for the client's routing table to fill.
	rtFillLimit = 10 * time.Second
	// providerCount is what `ipfs routing findprovs` asks for by default;
	// we cancel as soon as the expected provider shows up anyway.
	providerCount = 20
)

type findConfig struct {
	bootstrap   []peer.AddrInfo
	provider    peer.ID
	proto       string
	timeout     time.Duration
	concurrency int
}

func parseFindFlags(args []string, errw io.Writer) (*findConfig, error) {
	fs := flag.NewFlagSet("findprovs", flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.Usage = func() {
		fmt.Fprintln(errw, "usage: gonet findprovs --bootstrap ADDR[,ADDR...] --provider PEERID [flags] < cids")
		fmt.Fprintln(errw, "Prints one JSON line per CID read from stdin, as each lookup ends.")
		fs.PrintDefaults()
	}
	boot := fs.String("bootstrap", "", "comma-separated multiaddrs, each ending in /p2p/PEERID")
	prov := fs.String("provider", "", "peer id of the provider we expect to find")
	proto := fs.String("protocol", "/ipfs/kad/1.0.0", "kad protocol id")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit per lookup")
	conc := fs.Int("concurrency", 10, "lookups in flight")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (CIDs are read from stdin)", fs.Arg(0))
	}
	c := &findConfig{proto: *proto, timeout: *timeout, concurrency: *conc}
	for s := range strings.SplitSeq(*boot, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("--bootstrap %q: %v", s, err)
		}
		c.bootstrap = append(c.bootstrap, *ai)
	}
	if len(c.bootstrap) == 0 {
		return nil, errors.New("--bootstrap: at least one address is required")
	}
	var err error
	if c.provider, err = peer.Decode(*prov); err != nil {
		return nil, fmt.Errorf("--provider %q: %v", *prov, err)
	}
	if !strings.HasPrefix(c.proto, "/") {
		return nil, fmt.Errorf("--protocol %q: must start with '/'", c.proto)
	}
	if c.timeout <= 0 {
		return nil, errors.New("--timeout: must be positive")
	}
	if c.concurrency < 1 {
		return nil, errors.New("--concurrency: must be >= 1")
	}
	return c, nil
}

type findLine struct {
	CID   string   `json:"cid"`
	Found bool     `json:"found"`
	Ms    int64    `json:"ms"`
	Addrs []string `json:"addrs"`
	Error string   `json:"error,omitempty"`
}

func runFindProvs(args []string, in io.Reader, out, errw io.Writer) int {
	cfg, err := parseFindFlags(args, errw)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(errw, "gonet findprovs: %v\n", err)
		return 1
	}
	key, err := newIdentity()
	if err != nil {
		fmt.Fprintf(errw, "gonet findprovs: %v\n", err)
		return 1
	}
	// A client never needs to be dialled back, so it listens nowhere.
	h, err := newHost(key)
	if err != nil {
		fmt.Fprintf(errw, "gonet findprovs: host: %v\n", err)
		return 1
	}
	defer h.Close()
	opts := append(dhtOptions(cfg.proto, dht.ModeClient, nil), dht.BootstrapPeers(cfg.bootstrap...))
	d, err := dht.New(h, opts...)
	if err != nil {
		fmt.Fprintf(errw, "gonet findprovs: dht: %v\n", err)
		return 1
	}
	defer d.Close()

	if n := connectBootstrap(d, cfg.bootstrap); n == 0 {
		fmt.Fprintf(errw, "gonet findprovs: none of the %d bootstrap peers could be reached\n", len(cfg.bootstrap))
		return 1
	}
	fillRoutingTable(d)
	findAll(d, cfg, in, out)
	return 0
}

func connectBootstrap(d *dht.IpfsDHT, peers []peer.AddrInfo) int {
	var ok atomic.Int64
	forEachBounded(len(peers), 16, func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		if d.Host().Connect(ctx, peers[i]) == nil {
			ok.Add(1)
		}
	})
	return int(ok.Load())
}

// fillRoutingTable waits for kad-dht to admit a first peer (identify and a
// lookupCheck after the bootstrap connections), then runs one full refresh,
// all within rtFillLimit, as a freshly started Kubo would before its first
// lookup.
func fillRoutingTable(d *dht.IpfsDHT) {
	deadline := time.Now().Add(rtFillLimit)
	for d.RoutingTable().Size() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if d.RoutingTable().Size() == 0 {
		return
	}
	select {
	case <-d.RefreshRoutingTable():
	case <-time.After(time.Until(deadline)):
	}
}

// findAll runs a lookup per CID line, cfg.concurrency at a time, printing
// each result line as soon as it is known.
func findAll(d *dht.IpfsDHT, cfg *findConfig, in io.Reader, out io.Writer) {
	var mu sync.Mutex
	emit := func(l findLine) {
		if l.Addrs == nil {
			l.Addrs = []string{}
		}
		b, _ := json.Marshal(l)
		mu.Lock()
		_, _ = out.Write(append(b, '\n'))
		mu.Unlock()
	}

	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.concurrency)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		c, err := cid.Decode(text)
		if err != nil {
			emit(findLine{CID: text, Error: fmt.Sprintf("line %d: %v", lineNo, err)})
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			emit(findOne(d, text, c, cfg.provider, cfg.timeout))
		})
	}
	wg.Wait()
}

// findOne stops at the first sighting of want with an address: a record
// without addresses may be followed by one with (FindProvidersAsync emits a
// provider again when a later answer brings addresses).
func findOne(d *dht.IpfsDHT, text string, c cid.Cid, want peer.ID, timeout time.Duration) findLine {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l := findLine{CID: text}
	for ai := range d.FindProvidersAsync(ctx, c, providerCount) {
		if ai.ID != want || len(ai.Addrs) == 0 {
			continue
		}
		l.Found = true
		for _, a := range ai.Addrs {
			l.Addrs = append(l.Addrs, a.String())
		}
		break
	}
	l.Ms = time.Since(start).Milliseconds()
	if !l.Found && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		l.Error = fmt.Sprintf("timed out after %s", timeout)
	}
	return l
}
