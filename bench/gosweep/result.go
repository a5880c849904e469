package main

import (
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p-kad-dht/provider/stats"
)

// Result is the JSON object gosweep prints. The first block is the contract
// shared with the other benchmarks; the rest explains it. Unless the name says
// "setup", counts cover only the provide window: from handing the keys to the
// provider until it reports them all done.
type Result struct {
	PeerID        string   `json:"peerId"`
	CIDs          int      `json:"cids"`
	WallMs        int64    `json:"wallMs"`
	Lookups       int64    `json:"lookups"`       // GetClosestPeers calls by the provider
	Connections   int64    `json:"connections"`   // outbound connections opened by the host
	Records       int64    `json:"records"`       // ADD_PROVIDER messages written
	FailedRecords int64    `json:"failedRecords"` // ADD_PROVIDER sends that errored
	CPUMs         int64    `json:"cpuMs"`         // process user+sys CPU, -1 if unknown
	Regions       *int     `json:"regions,omitempty"`
	Notes         []string `json:"notes"`
	TimedOut      bool     `json:"timedOut"`
	Error         string   `json:"error,omitempty"`

	// What the provider's own stats say (provider/stats.Stats).
	KeysProvided         int64   `json:"keysProvided"`
	KeysFailed           int64   `json:"keysFailed"`
	StatsRecords         int64   `json:"statsRecordsProvided"`
	ScheduledRegions     int64   `json:"scheduledRegions"`
	AvgPrefixLength      float64 `json:"avgPrefixLength"`
	AvgRegionSize        float64 `json:"avgRegionSize"`
	AvgHolders           float64 `json:"avgHolders"`
	RegionReprovides     int64   `json:"regionReprovides"`
	PeersReached         int     `json:"peersReached"` // distinct peers sent ≥1 record
	LastRecordMs         int64   `json:"lastRecordMs"` // window start to the last record written
	LookupErrors         int64   `json:"lookupErrors"`
	InboundConnections   int64   `json:"inboundConnections"`
	RoutingTableSize     int     `json:"routingTableSize"`
	SetupMs              int64   `json:"setupMs"`
	SetupLookups         int64   `json:"setupLookups"`
	SetupConnections     int64   `json:"setupConnections"`
	ProviderMaxWorkers   int     `json:"providerMaxWorkers"`
	DuplicateCIDsSkipped int     `json:"duplicateCidsSkipped,omitempty"`
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// applyStats copies the provider's view into the result.
func (r *Result) applyStats(st stats.Stats) {
	r.KeysProvided = st.Operations.Past.KeysProvided
	r.KeysFailed = st.Operations.Past.KeysFailed
	r.StatsRecords = st.Operations.Past.RecordsProvided
	r.ScheduledRegions = st.Schedule.Regions
	r.AvgPrefixLength = st.Schedule.AvgPrefixLength
	r.AvgRegionSize = st.Network.AvgRegionSize
	r.AvgHolders = st.Network.AvgHolders
	r.RegionReprovides = st.Operations.Past.RegionReprovidedLastCycle
}

// progressLine is what --stats-interval prints to stderr.
func progressLine(w io.Writer, elapsed time.Duration, total int, st stats.Stats, lookups, conns, records int64) {
	fmt.Fprintf(w, "gosweep: %6.1fs keys %d/%d failed %d queued %d in-flight %d | lookups %d conns %d records %d workers %d\n",
		elapsed.Seconds(),
		st.Operations.Past.KeysProvided, total, st.Operations.Past.KeysFailed,
		st.Queues.PendingKeyProvides, st.Operations.Ongoing.KeyProvides,
		lookups, conns, records, st.Workers.Active)
}
