/**
 * A DHT peer can hand out any address. With private addresses denied, a host dials
 * only its own bootstrap peers on private ranges, whatever the lookups return.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSweepHost, isPrivateAddr, privateAddrGate, type PrivateAddrPolicy, type SweepHost } from '../src/index.ts'
import { startServers, stopServers, type TestServer } from './servers.ts'

describe('isPrivateAddr', () => {
  it.each([
    ['/ip4/10.1.2.3/tcp/6379', true],
    ['/ip4/127.0.0.1/tcp/4001', true],
    ['/ip4/169.254.169.254/tcp/80', true],
    ['/ip4/172.20.0.5/tcp/4001', true],
    ['/ip4/192.168.1.10/udp/4001/quic-v1', true],
    ['/ip6/::1/tcp/4001', true],
    ['/ip6/fe80::1/tcp/4001', true],
    ['/ip6/fd00::7/tcp/4001', true],
    ['/dns4/localhost/tcp/4001', true],
    ['/dns4/redis/tcp/6379', true],
    ['/dns4/redis.sweep.svc.cluster.local/tcp/6379', true],
    ['/dns/printer.local/tcp/80', true],
    ['/ip4/147.75.87.27/tcp/4001', false],
    ['/ip6/2604:1380:4642:6600::3/tcp/4001', false],
    ['/dns4/bootstrap.libp2p.io/tcp/4001', false],
    ['/dnsaddr/bootstrap.libp2p.io', false]
  ])('%s → %s', (text, expected) => {
    expect(isPrivateAddr(multiaddr(text))).toBe(expected)
  })

  it('auto denies them only when some bootstrap peer is public, and never the bootstrap peers themselves', () => {
    const local = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGRUVh7N5YD6ev4NN3XBrX1ggoeAz6ZV6i4JLEHkFbvqp'
    const amino = '/ip4/147.75.87.27/tcp/4001/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb'
    const other = multiaddr('/ip4/127.0.0.1/tcp/5001')
    expect(privateAddrGate('auto', [local])).toBeUndefined()
    expect(privateAddrGate('allow', [amino])).toBeUndefined()
    const gate = privateAddrGate('auto', [amino, local])!
    expect(gate(other)).toBe(true)
    expect(gate(multiaddr('/ip4/127.0.0.1/tcp/4001'))).toBe(false)
    expect(gate(multiaddr('/ip4/147.75.87.28/tcp/4001'))).toBe(false)
    expect(privateAddrGate('deny', [local])!(other)).toBe(true)
  })
})

describe('a host that denies private addresses, against real kad-dht servers on loopback', () => {
  let servers: TestServer[]
  let internal: Server
  let internalPort = 0
  let knocks = 0
  const hosts: SweepHost[] = []

  const startHost = async (privateAddrs: PrivateAddrPolicy): Promise<SweepHost> => {
    const host = await createSweepHost({
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: servers.slice(0, 2).map((s) => s.addrs[0]),
      privateAddrs
    })
    hosts.push(host)
    return host
  }
  /** The peers a host is connected to, after a few lookups. */
  const connectedAfterLookups = async (host: SweepHost): Promise<Set<string>> => {
    for (let i = 0; i < 3; i++) await host.router.getClosestPeers(randomBytes(32)).catch(() => [])
    return new Set(host.libp2p.getConnections().map((c) => c.remotePeer.toString()))
  }

  beforeAll(async () => {
    servers = await startServers(12)
    // stands in for an internal service (say an open Redis) a malicious peer points workers at
    internal = createServer((socket) => { knocks++; socket.destroy() })
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve))
    internalPort = (internal.address() as { port: number }).port
  })

  afterAll(async () => {
    for (const host of hosts) await host.stop()
    await stopServers(servers ?? [])
    internal?.close()
  })

  it('dials only the bootstrap peers, while auto on a loopback testnet reaches the others', async () => {
    const bootstrapIds = new Set(servers.slice(0, 2).map((s) => s.id))
    const denying = await connectedAfterLookups(await startHost('deny'))
    expect([...denying].filter((id) => !bootstrapIds.has(id))).toEqual([])
    const auto = await connectedAfterLookups(await startHost('auto'))
    expect([...auto].filter((id) => !bootstrapIds.has(id)).length).toBeGreaterThan(0)
  })

  it('refuses to knock on an internal service, which auto would reach on a loopback testnet', async () => {
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const target = multiaddr(`/ip4/127.0.0.1/tcp/${internalPort}/p2p/${stranger}`)
    const [denying, allowing] = [hosts[0], hosts[1]]
    await expect(denying.libp2p.dial(target, { signal: AbortSignal.timeout(3000) })).rejects.toThrow(/denied/i)
    expect(knocks).toBe(0)
    await expect(allowing.libp2p.dial(target, { signal: AbortSignal.timeout(3000) })).rejects.toThrow()
    expect(knocks).toBe(1)
  })
})
