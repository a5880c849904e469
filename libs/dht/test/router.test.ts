import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { compareDistance, kadKeyOf } from '@sweep/keyspace'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSweepHost } from '../src/index.ts'
import { startServers, stopServers } from './servers.ts'
import type { SweepHost } from '../src/index.ts'
import type { TestServer } from './servers.ts'

const SERVERS = 30
const K = 20
const LOOKUPS = 10

describe('router: getClosestPeers against real kad-dht servers', () => {
  let servers: TestServer[]
  let host: SweepHost

  beforeAll(async () => {
    servers = await startServers(SERVERS)
    host = await createSweepHost({
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: servers.slice(0, 3).map((s) => s.addrs[0])
    })
  })

  afterAll(async () => {
    await host?.stop()
    await stopServers(servers ?? [])
  })

  it('returns the k XOR-closest servers, with addresses, for most lookups', async () => {
    let exact = 0
    let overlap = 0
    for (let i = 0; i < LOOKUPS; i++) {
      const preimage = randomBytes(32)
      const target = kadKeyOf(preimage)
      const found = await host.router.getClosestPeers(preimage)
      expect(found.length).toBeGreaterThan(0)
      expect(found.length).toBeLessThanOrEqual(K)
      for (const peer of found) {
        expect(peer.addrs.length, `peer ${peer.id} has no addrs`).toBeGreaterThan(0)
        expect(servers.some((s) => s.id === peer.id)).toBe(true)
      }
      const truth = [...servers].sort((a, b) => compareDistance(target, a.key, b.key)).slice(0, K).map((s) => s.id)
      const got = new Set(found.map((p) => p.id))
      const common = truth.filter((id) => got.has(id)).length
      overlap += common / K
      if (common === K) exact++
    }
    const stats = host.router.stats()
    console.log(`[router] ${exact}/${LOOKUPS} lookups returned exactly the true ${K} closest of ${SERVERS}; ` +
      `mean overlap ${(overlap / LOOKUPS * 100).toFixed(1)}%; stats ${JSON.stringify(stats)}`)
    expect(exact / LOOKUPS).toBeGreaterThanOrEqual(0.7)
    expect(stats.lookups).toBe(LOOKUPS)
    expect(stats.rpcs).toBeGreaterThan(0)
    expect(stats.peersWithoutAddrs).toBe(0)
  })
})
