// Command gonet runs stock go-libp2p-kad-dht peers for sweep's test network.
//
//	gonet serve      N DHT servers in one process, driven over stdio (JSON lines)
//	gonet findprovs  the go DHT client's own FindProvidersAsync, one CID per line
package main

import (
	"fmt"
	"log/slog"
	"os"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
)

const usage = `usage:
  gonet serve                   JSON-lines requests on stdin, replies on stdout
  gonet findprovs [flags] <cids  see 'gonet findprovs -h'
`

func main() {
	quietLibraries()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(runServe(os.Stdin, os.Stdout))
	case "findprovs":
		os.Exit(runFindProvs(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

// quietLibraries mutes go-log (kad-dht) and slog (go-libp2p) output: a
// thousand servers would otherwise log every failed dial or refused stream,
// and stderr is the parent's only diagnostics channel. Set GOLOG_LOG_LEVEL to
// get the libraries' logs back.
func quietLibraries() {
	if os.Getenv("GOLOG_LOG_LEVEL") != "" {
		return
	}
	golog.SetAllLoggers(golog.LevelFatal)
	gologshim.SetDefaultHandler(slog.DiscardHandler)
}
