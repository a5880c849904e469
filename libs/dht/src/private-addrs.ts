import { isPrivate } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'

/**
 * Whether the host dials private, loopback and link-local addresses that DHT peers
 * hand it. Any peer can answer a lookup with any address, so on a public network a
 * malicious one could make every worker knock on internal services (an open Redis,
 * the cluster's API server). `auto` dials them only when the operator's own bootstrap
 * list is all private: a local testnet or a private DHT, where nothing else exists.
 */
export type PrivateAddrPolicy = 'auto' | 'allow' | 'deny'

export const PRIVATE_ADDR_POLICIES: readonly PrivateAddrPolicy[] = ['auto', 'allow', 'deny']

/**
 * Host names that only resolve inside a site or a cluster. The TCP transport resolves
 * /dns4 and /dns6 itself, after the gater has seen the name, so the name is all there
 * is to judge; a single label ("redis") is a search-domain lookup inside the cluster.
 */
const INTERNAL_NAME = /(^|\.)(localhost|local|internal|intranet|lan|home\.arpa|svc|cluster\.local)\.?$/i

/** An address a worker must not dial on a public network: private, loopback, link-local or cluster-internal. */
export function isPrivateAddr(ma: Multiaddr): boolean {
  if (isPrivate(ma)) return true
  for (const { name, value } of ma.getComponents()) {
    if ((name === 'dns' || name === 'dns4' || name === 'dns6') && value !== undefined) {
      return INTERNAL_NAME.test(value) || !value.replace(/\.$/, '').includes('.')
    }
  }
  return false
}

/** The transport part of a multiaddr, without /p2p, as dials see it. */
function transportOf(text: string): string {
  return text.replace(/\/p2p\/[^/]+$/, '')
}

/**
 * The connection gater's multiaddr rule for a policy. The bootstrap addresses are the
 * operator's choice and always dialable, even when private.
 */
export function privateAddrGate(policy: PrivateAddrPolicy, bootstrap: readonly string[]): ((ma: Multiaddr) => boolean) | undefined {
  const chosen = new Set(bootstrap.map(transportOf))
  const allBootstrapPrivate = bootstrap.length > 0 && bootstrap.every((text) => isPrivateAddr(multiaddr(text)))
  if (policy === 'allow' || (policy === 'auto' && allBootstrapPrivate)) return undefined
  return (ma) => !chosen.has(transportOf(ma.toString())) && isPrivateAddr(ma)
}
