import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSweepHost } from '../src/index.ts'
import { randomProvideKeys } from './keys.ts'
import { peerOf, providersOf, startServer, startServers, stopServers, waitFor } from './servers.ts'
import type { SweepHost } from '../src/index.ts'
import type { TestServer } from './servers.ts'


describe('sender when a server goes away mid-send', () => {
  let servers: TestServer[]
  let victim: TestServer
  let host: SweepHost

  beforeAll(async () => {
    servers = await startServers(4)
    victim = await startServer()
    host = await createSweepHost({
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: [servers[0].addrs[0]],
      sendTimeoutMs: 20_000
    })
  })

  afterAll(async () => {
    await host?.stop()
    await stopServers([...(servers ?? []), ...(victim !== undefined ? [victim] : [])])
  })

  it('returns an error with sent < total, without throwing, while other peers still succeed', async () => {
    const total = 40_000
    const doomed = randomProvideKeys(total)
    const others = [randomProvideKeys(300), randomProvideKeys(300)]
    const victimSend = host.sender.send(peerOf(victim), doomed)
    // the other sends are small, so confirmations past 1,500 include the victim's
    await waitFor(() => host.sender.stats().recordsConfirmed >= 1_500, 20_000, 'the victim to take some records')
    const otherSends = others.map((keys, i) => host.sender.send(peerOf(servers[i + 1]), keys))
    await victim.node.stop()

    const outcome = await victimSend
    expect(outcome.sent).toBeLessThan(total)
    expect(outcome.sent).toBeGreaterThan(0)
    expect(outcome.error).toMatch(new RegExp(victim.id))
    const results = await Promise.all(otherSends)
    expect(results).toEqual([{ sent: 300 }, { sent: 300 }])
    for (const [i, keys] of others.entries()) {
      for (const k of keys) expect(await providersOf(servers[i + 1], k.multihash)).toContain(host.peerId)
    }
    const stats = host.sender.stats()
    console.log(`[failure] victim outcome ${JSON.stringify(outcome)}; stats ${JSON.stringify(stats)}`)
    expect(stats.sendsFailed).toBe(1)
  })

  it('a later send to the dead server fails fast with an error, never a throw', async () => {
    const started = Date.now()
    const outcome = await host.sender.send(peerOf(victim), randomProvideKeys(10))
    expect(outcome.sent).toBe(0)
    expect(outcome.error).toBeDefined()
    expect(Date.now() - started).toBeLessThan(15_000)
  })

  it('createSweepHost fails with a clear error when no bootstrap peer is reachable', async () => {
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await expect(createSweepHost({
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${nobody}`],
      bootstrapTimeoutMs: 3_000
    })).rejects.toThrow(/none of the 1 bootstrap peers was reachable/)
  })
})
