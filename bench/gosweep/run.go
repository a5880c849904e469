package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/libp2p/go-libp2p-kad-dht/provider"
	"github.com/libp2p/go-libp2p-kad-dht/provider/stats"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
)

// Config is everything Run needs; main fills it from flags, the test directly.
type Config struct {
	Bootstrap       []peer.AddrInfo
	Protocol        protocol.ID
	Keys            []mh.Multihash // distinct
	DuplicateCIDs   int
	Identity        crypto.PrivKey // nil: generate Ed25519
	Announce        []ma.Multiaddr // nil: the host's own addrs
	Timeout         time.Duration  // only used by main, Run obeys ctx
	NetworkSizeHint int
	MaxWorkers      int
	BootstrapWait   time.Duration
	Linger          time.Duration // keep the host up this long after done
	StatsInterval   time.Duration
	Progress        io.Writer
	// perKey, when set, gets every ADD_PROVIDER send's key and time (the
	// one-CID-at-a-time mode reads each key's first and last send from it).
	perKey *keyTimes
	// Serial: provide CIDs from stdin one at a time (RunSerial) instead of Keys at once.
	Serial        bool
	PerCIDTimeout time.Duration
}

const (
	pollEvery = 100 * time.Millisecond
	// idleGrace: how long the provider may sit completely idle with keys
	// unaccounted before the run stops waiting. Failed regions are re-queued
	// (the queue is then not empty, so that is not "idle"); idle with keys
	// missing means the provider dropped them, and they would never show up.
	idleGrace = 3 * time.Second
)

// session is a joined host, its DHT and a SweepingProvider that is online
// with its prefix-length estimate: what both modes (one batch, or one CID at a
// time) start from.
type session struct {
	router *countingRouter
	sender *countingSender
	conns  *connCounter
	prov   *provider.SweepingProvider
	close  func()
}

// setUp starts a host and DHT, joins the network and builds the
// SweepingProvider, filling res's setup fields. On error, what was started is
// already closed.
func setUp(ctx context.Context, cfg Config, res *Result) (*session, error) {
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = kuboMaxWorkers
	}
	res.ProviderMaxWorkers = cfg.MaxWorkers
	res.note("go-libp2p-kad-dht %s provider.SweepingProvider with Kubo's Provide.DHT defaults, go-libp2p %s",
		moduleVersion("github.com/libp2p/go-libp2p-kad-dht"), moduleVersion("github.com/libp2p/go-libp2p"))
	if cfg.NetworkSizeHint > 0 {
		res.note("--network-size-hint %d ignored: the provider takes no size input, it estimates the region prefix length with its own lookups", cfg.NetworkSizeHint)
	}
	setupStart := time.Now()

	priv := cfg.Identity
	if priv == nil {
		var err error
		if priv, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			return nil, err
		}
		res.note("no --identity: generated an Ed25519 key")
	}
	h, err := newHost(priv)
	if err != nil {
		return nil, fmt.Errorf("starting host: %w", err)
	}
	closers := []func(){func() { h.Close() }}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	res.PeerID = h.ID().String()
	conns := countConnections(h)

	d, err := newDHT(h, cfg.Protocol, cfg.Bootstrap)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("starting DHT: %w", err)
	}
	closers = append(closers, func() { d.Close() })
	res.RoutingTableSize, err = joinNetwork(ctx, h, d, cfg.Bootstrap, cfg.BootstrapWait)
	if err != nil {
		closeAll()
		return nil, stopped(ctx, res, fmt.Errorf("joining the network: %w", err))
	}

	router := &countingRouter{inner: d}
	sender := &countingSender{inner: d.MessageSender(), regions: newRegionTracker(), perKey: cfg.perKey}
	selfAddrs := d.FilteredAddrs
	if len(cfg.Announce) > 0 {
		selfAddrs = staticAddrs(cfg.Announce)
	}
	prov, err := provider.New(providerOptions(h, d, router, sender, selfAddrs, cfg.MaxWorkers)...)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("building SweepingProvider: %w", err)
	}
	closers = append(closers, func() { prov.Close() })

	if err := waitReady(ctx, prov); err != nil {
		closeAll()
		return nil, stopped(ctx, res, fmt.Errorf("provider never came online: %w", err))
	}
	res.SetupMs = time.Since(setupStart).Milliseconds()
	res.SetupLookups = router.calls.Load()
	res.SetupConnections = conns.outbound.Load()
	res.RoutingTableSize = d.RoutingTable().Size()
	return &session{router: router, sender: sender, conns: conns, prov: prov, close: closeAll}, nil
}

// Run joins the network (setUp), hands the provider every key and waits
// until its stats say all are done. The returned Result is never nil: on
// error or timeout it holds what was measured so far.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	res := &Result{CIDs: len(cfg.Keys), CPUMs: -1, Notes: []string{}, DuplicateCIDsSkipped: cfg.DuplicateCIDs}
	s, err := setUp(ctx, cfg, res)
	if err != nil {
		return res, err
	}
	defer s.close()
	router, sender, conns, prov := s.router, s.sender, s.conns, s.prov

	w := openWindow(router, sender, conns)
	// force=false is what a fresh add does; the keystore starts empty, so
	// every key is new and is provided now, not just scheduled.
	if err := prov.StartProviding(false, cfg.Keys...); err != nil {
		return res, fmt.Errorf("StartProviding: %w", err)
	}
	err = waitDone(ctx, prov, cfg, w, res)
	w.close(res)
	if st, serr := providerStats(context.Background(), prov); serr == nil {
		res.applyStats(st)
	}
	annotate(res)
	if err != nil {
		return res, stopped(ctx, res, err)
	}
	// "Done" means every record was handed to its stream. Closing the host
	// at once can drop what is still buffered (seen in the test: a key on 19
	// servers instead of 20), leaving the servers short of records the result
	// claims; so stay up a little, as a long-running node would. Not timed.
	sleep(ctx, cfg.Linger)
	return res, nil
}

// waitReady waits until the provider is online and has its prefix-length
// estimate. Before that, StartProviding only stores the keys and returns: they
// would go out later through the reprovide path, not as a provide. The
// provider reports "online" before it measures the prefix length, and marks
// itself bootstrapped only after that (enqueueing every scheduled region as
// "expired"), so the condition must hold on two polls in a row: keys handed
// over in that gap would be swept up as reprovides instead of provides.
func waitReady(ctx context.Context, prov *provider.SweepingProvider) error {
	streak := 0
	for {
		st, err := providerStats(ctx, prov)
		if err == nil && st.Connectivity.Status == "online" && st.Schedule.AvgPrefixLength >= 0 {
			if streak++; streak >= 2 {
				return nil
			}
		} else {
			streak = 0
		}
		sleep(ctx, pollEvery)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// waitDone polls the provider's stats until every key is accounted for and
// the provider is idle: nothing queued, no provide or reprovide running, no
// worker held. Keys are counted by the provider when a region's (or a single
// key's) sends have all finished, as provided (≥1 holder got it) or failed.
func waitDone(ctx context.Context, prov *provider.SweepingProvider, cfg Config, w *window, res *Result) error {
	total := int64(len(cfg.Keys))
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var lastProgress, idleSince time.Time
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped after %s: %w", time.Since(w.start).Round(time.Millisecond), ctx.Err())
		case <-tick.C:
		}
		st, err := providerStats(ctx, prov)
		if err != nil {
			continue
		}
		now := time.Now()
		if cfg.StatsInterval > 0 && cfg.Progress != nil && now.Sub(lastProgress) >= cfg.StatsInterval {
			lastProgress = now
			progressLine(cfg.Progress, now.Sub(w.start), len(cfg.Keys), st,
				w.router.calls.Load()-w.lookups, w.conns.outbound.Load()-w.outbound, w.sender.sent.Load()-w.sent)
		}
		idle := st.Queues.PendingKeyProvides == 0 && st.Queues.PendingRegionReprovides == 0 &&
			st.Operations.Ongoing.RegionProvides == 0 && st.Operations.Ongoing.RegionReprovides == 0 &&
			st.Workers.Active == 0
		accounted := st.Operations.Past.KeysProvided + st.Operations.Past.KeysFailed
		switch {
		case !idle:
			idleSince = time.Time{}
		case accounted >= total:
			w.end = now
			return nil
		case idleSince.IsZero():
			idleSince = now
		case now.Sub(idleSince) >= idleGrace:
			w.end = idleSince
			res.note("provider went idle with %d of %d keys unaccounted; stopped waiting after %s", total-accounted, total, idleGrace)
			return nil
		}
	}
}

// window holds the counter values at the moment providing starts.
type window struct {
	router              *countingRouter
	sender              *countingSender
	conns               *connCounter
	start, end          time.Time
	cpu                 time.Duration
	lookups, lookupErrs int64
	outbound, inbound   int64
	sent, failed        int64
}

func openWindow(r *countingRouter, s *countingSender, c *connCounter) *window {
	return &window{
		router: r, sender: s, conns: c,
		start: time.Now(), cpu: processCPU(),
		lookups: r.calls.Load(), lookupErrs: r.failed.Load(),
		outbound: c.outbound.Load(), inbound: c.inbound.Load(),
		sent: s.sent.Load(), failed: s.failed.Load(),
	}
}

// close writes the window's deltas into res. Without an end (timeout), the
// window ends now.
func (w *window) close(res *Result) {
	if w.end.IsZero() {
		w.end = time.Now()
	}
	res.WallMs = w.end.Sub(w.start).Milliseconds()
	if cpu := processCPU(); cpu >= 0 && w.cpu >= 0 {
		res.CPUMs = (cpu - w.cpu).Milliseconds()
	}
	res.Lookups = w.router.calls.Load() - w.lookups
	res.LookupErrors = w.router.failed.Load() - w.lookupErrs
	res.Connections = w.conns.outbound.Load() - w.outbound
	res.InboundConnections = w.conns.inbound.Load() - w.inbound
	res.Records = w.sender.sent.Load() - w.sent
	res.FailedRecords = w.sender.failed.Load() - w.failed
	if last := w.sender.lastSent.Load(); last > w.start.UnixNano() {
		res.LastRecordMs = time.Duration(last - w.start.UnixNano()).Milliseconds()
	}
	regions, peers := w.sender.regions.summary()
	res.Regions, res.PeersReached = &regions, peers
}

func annotate(res *Result) {
	res.note("window: from StartProviding until the provider's stats show every key done and the provider idle (polled every %s); cpuMs is the whole process over that window", pollEvery)
	res.note("regions: inferred from ADD_PROVIDER recipients (peers that received the same key are in one region); scheduledRegions is the provider's schedule, keyed by prefixes of length avgPrefixLength")
	if res.Connections < int64(res.PeersReached) {
		res.note("connections counts only new ones: joining the network (routing-table refresh) had already opened %d, which the provide window reused", res.SetupConnections)
	}
	if res.RegionReprovides > 0 {
		res.note("the provider also ran %d region reprovides during the run", res.RegionReprovides)
	}
	if res.DuplicateCIDsSkipped > 0 {
		res.note("%d duplicate CIDs in the input were skipped", res.DuplicateCIDsSkipped)
	}
}

// stopped marks a deadline as a timeout and returns err for the caller.
func stopped(ctx context.Context, res *Result, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.TimedOut = true
	}
	return err
}

func providerStats(ctx context.Context, prov *provider.SweepingProvider) (stats.Stats, error) {
	// Stats waits on the keystore's worker; bound it so a slow keystore
	// cannot stall the poll loop.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return prov.Stats(sctx)
}

func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}
