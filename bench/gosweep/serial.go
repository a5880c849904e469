package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// serialPoll is how often the one-at-a-time mode reads the provider's stats
// to see a key done; it only sets when the next CID may come, not the times
// reported, which are taken at the sends themselves.
const serialPoll = 10 * time.Millisecond

// ready is the first line RunSerial prints: the provider is online, and CIDs
// may come. Setup is not part of any CID's time.
type ready struct {
	Ready            bool   `json:"ready"`
	PeerID           string `json:"peerId"`
	SetupMs          int64  `json:"setupMs"`
	RoutingTableSize int    `json:"routingTableSize"`
}

// provided is the line printed per CID. Times are unix ms, so the caller can
// set them against its own clock (same machine): receivedAt is when the line
// was read, firstSentAt and lastSentAt bracket the key's ADD_PROVIDER sends,
// doneAt is when the provider's stats counted the key.
type provided struct {
	CID           string `json:"cid"`
	ReceivedAt    int64  `json:"receivedAt"`
	FirstSentAt   int64  `json:"firstSentAt,omitempty"`
	LastSentAt    int64  `json:"lastSentAt,omitempty"`
	DoneAt        int64  `json:"doneAt"`
	Records       int    `json:"records"`
	FailedRecords int    `json:"failedRecords"`
	Lookups       int64  `json:"lookups"`
	LookupMs      int64  `json:"lookupMs"`
	Error         string `json:"error,omitempty"`
}

// RunSerial joins the network like Run, then provides the CIDs read from in
// one at a time, as a node does when a user adds a file: StartProviding with
// one fresh key, which the SweepingProvider sends on its burst path (one
// lookup, records to the closest peers). It prints a JSON line per CID once
// the provider counts it done, and only then reads the next, so each CID is
// timed alone. Ends at EOF or when ctx ends.
func RunSerial(ctx context.Context, cfg Config, in io.Reader, out io.Writer, perCID time.Duration) error {
	res := &Result{CPUMs: -1, Notes: []string{}}
	cfg.perKey = newKeyTimes()
	s, err := setUp(ctx, cfg, res)
	if err != nil {
		return err
	}
	defer s.close()
	enc := json.NewEncoder(out)
	if err := enc.Encode(ready{Ready: true, PeerID: res.PeerID, SetupMs: res.SetupMs, RoutingTableSize: res.RoutingTableSize}); err != nil {
		return err
	}
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		text := strings.TrimSpace(lines.Text())
		if text == "" {
			continue
		}
		line := provideOne(ctx, s, cfg.perKey, text, perCID)
		if err := enc.Encode(line); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return lines.Err()
}

func provideOne(ctx context.Context, s *session, times *keyTimes, text string, limit time.Duration) provided {
	line := provided{CID: text, ReceivedAt: time.Now().UnixMilli()}
	c, err := cid.Decode(text)
	if err != nil {
		line.Error = err.Error()
		line.DoneAt = time.Now().UnixMilli()
		return line
	}
	key := c.Hash()
	lookups, lookupNanos := s.router.calls.Load(), s.router.nanos.Load()
	before, err := providerStats(ctx, s.prov)
	if err == nil {
		err = s.prov.StartProviding(false, key)
	}
	if err == nil {
		err = waitCounted(ctx, s, before.Operations.Past.KeysProvided+before.Operations.Past.KeysFailed, limit)
	}
	if err != nil {
		line.Error = err.Error()
	}
	line.DoneAt = time.Now().UnixMilli()
	sent := times.take(key)
	line.Records, line.FailedRecords = sent.sent, sent.failed
	if sent.sent > 0 {
		line.FirstSentAt, line.LastSentAt = sent.first.UnixMilli(), sent.last.UnixMilli()
	}
	line.Lookups = s.router.calls.Load() - lookups
	line.LookupMs = time.Duration(s.router.nanos.Load() - lookupNanos).Milliseconds()
	return line
}

// waitCounted waits until the provider's stats count one more key (provided
// or failed) than `was` and nothing is running.
func waitCounted(ctx context.Context, s *session, was int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		sleep(ctx, serialPoll)
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := providerStats(ctx, s.prov)
		if err != nil {
			continue
		}
		running := st.Operations.Ongoing.KeyProvides + st.Operations.Ongoing.RegionProvides
		if st.Operations.Past.KeysProvided+st.Operations.Past.KeysFailed > was && running == 0 {
			return nil
		}
	}
	return fmt.Errorf("not counted done within %s", limit)
}
