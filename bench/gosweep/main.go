// Command gosweep is a benchmark: it runs go-libp2p-kad-dht's own Reprovide
// Sweep implementation (provider.SweepingProvider) against a test network of
// DHT servers, provides a set of CIDs once, and prints what that cost as one
// JSON object on stdout. It is the go reference point that sweep (the
// TypeScript cluster) is compared with.
//
// Everything that is not flag handling lives in Run (run.go), so the test can
// drive the same code in-process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain returns the exit code: 0 done, 1 anything else. After setup has
// started the JSON is printed even on failure, so a caller always gets the
// partial measurement.
func realMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "gosweep: %v\n", err)
		return 1
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	// Ctrl-C ends the run like a timeout would: measured-so-far JSON, exit 1.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.Serial {
		// one JSON line per CID read from stdin; see RunSerial
		if err := RunSerial(ctx, cfg, os.Stdin, stdout, cfg.PerCIDTimeout); err != nil {
			fmt.Fprintf(stderr, "gosweep: %v\n", err)
			return 1
		}
		return 0
	}
	res, runErr := Run(ctx, cfg)
	if runErr != nil {
		res.Error = runErr.Error()
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(res); err != nil {
		fmt.Fprintf(stderr, "gosweep: writing result: %v\n", err)
		return 1
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "gosweep: %v\n", runErr)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("gosweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bootstrap := fs.String("bootstrap", "", "comma-separated multiaddrs with /p2p/ of the test network's entry points (required)")
	proto := fs.String("protocol", "/ipfs/kad/1.0.0", "kad-dht protocol id")
	cidsFile := fs.String("cids", "", "file with one CID per line (required)")
	identity := fs.String("identity", "", "libp2p private key file (crypto.MarshalPrivateKey bytes); default: a fresh Ed25519 key")
	announce := fs.String("announce", "", "comma-separated multiaddrs put in the provider records; default: the host's listen addrs")
	timeout := fs.Duration("timeout", 10*time.Minute, "overall time limit, setup included")
	sizeHint := fs.Int("network-size-hint", 0, "accepted for interface parity; the SweepingProvider estimates the network itself")
	statsEvery := fs.Duration("stats-interval", 0, "print a progress line to stderr this often (0 = off)")
	workers := fs.Int("max-workers", kuboMaxWorkers, "provider worker pool size (Kubo's Provide.DHT.MaxWorkers default is 16, the library's own default is 4)")
	joinWait := fs.Duration("bootstrap-wait", 30*time.Second, "upper bound on waiting for the routing table to fill")
	linger := fs.Duration("linger", 2*time.Second, "keep the host up this long after the provider is done, so records in flight arrive (not timed)")
	serial := fs.Bool("serial", false, "after joining, read CIDs one per line on stdin and provide each alone, printing a JSON line per CID (first-provide latency); --cids is then not used")
	perCID := fs.Duration("per-cid-timeout", time.Minute, "with --serial: how long one CID may take before its line reports an error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *bootstrap == "" || (*cidsFile == "" && !*serial) {
		return Config{}, errors.New("--bootstrap and --cids (or --serial) are required")
	}

	cfg := Config{
		Protocol:        protocol.ID(*proto),
		Timeout:         *timeout,
		NetworkSizeHint: *sizeHint,
		StatsInterval:   *statsEvery,
		MaxWorkers:      *workers,
		BootstrapWait:   *joinWait,
		Linger:          *linger,
		Progress:        stderr,
		Serial:          *serial,
		PerCIDTimeout:   *perCID,
	}
	var err error
	if cfg.Bootstrap, err = parseAddrInfos(*bootstrap); err != nil {
		return Config{}, err
	}
	if *cidsFile != "" {
		if cfg.Keys, cfg.DuplicateCIDs, err = readCIDs(*cidsFile); err != nil {
			return Config{}, err
		}
	}
	if *identity != "" {
		if cfg.Identity, err = readIdentity(*identity); err != nil {
			return Config{}, err
		}
	}
	if *announce != "" {
		if cfg.Announce, err = parseMultiaddrs(*announce); err != nil {
			return Config{}, fmt.Errorf("--announce: %w", err)
		}
	}
	return cfg, nil
}
