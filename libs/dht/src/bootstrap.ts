import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

export interface BootstrapOptions {
  /** Bound for the dials and for the routing table to fill. */
  readonly timeoutMs?: number
  /** Routing-table size to wait for; capped by the number of bootstrap peers reached. */
  readonly minPeers?: number
}

// kad-dht's factory is typed as KadDHT, but the instance behind it has a routing table
interface WithRoutingTable {
  readonly routingTable: { readonly size: number }
}

/**
 * Connects to the bootstrap peers and waits until the DHT knows some of them.
 * Lookups would otherwise start on an empty table and park until a peer shows up,
 * which turns a bad bootstrap list into a silent hang.
 */
export async function bootstrap(libp2p: Libp2p<{ dht: KadDHT }>, addrs: readonly string[], options: BootstrapOptions = {}): Promise<number> {
  if (addrs.length === 0) throw new Error('no bootstrap addresses given')
  const timeoutMs = options.timeoutMs ?? 15_000
  const deadline = Date.now() + timeoutMs
  const failures: string[] = []
  const dials = addrs.map(async (text) => {
    try {
      await libp2p.dial(multiaddr(text), { signal: AbortSignal.timeout(timeoutMs) })
      return true
    } catch (err) {
      failures.push(`${text}: ${err instanceof Error ? err.message : String(err)}`)
      return false
    }
  })
  const reached = (await Promise.all(dials)).filter(Boolean).length
  if (reached === 0) {
    throw new Error(`none of the ${addrs.length} bootstrap peers was reachable:\n  ${failures.join('\n  ')}`)
  }
  const table = (libp2p.services.dht as unknown as WithRoutingTable).routingTable
  const wanted = Math.min(options.minPeers ?? 1, reached)
  // identify must finish and kad-dht must check each peer before it enters the table
  while (table.size < wanted) {
    if (Date.now() > deadline) {
      throw new Error(`reached ${reached}/${addrs.length} bootstrap peers, but the DHT routing table holds ${table.size} ` +
        `after ${timeoutMs} ms: do they speak the DHT protocol in server mode?`)
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return table.size
}
