/**
 * The fault switches, on each implementation, shown by the network itself:
 * tarpits accept TCP and never answer, killed servers refuse, and latency
 * delays every kad answer.
 */
import { connect } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestnet, type Impl, type Testnet, type TestnetNode } from '../src/index.ts'
import { randomCids, startClient, type Client } from './client.ts'
import { goSkipReason } from './go-available.ts'

const NODES = 30

function portOf(node: TestnetNode): number {
  return Number(/\/tcp\/(\d+)/.exec(node.multiaddrs[0])![1])
}

/** Connects a bare TCP socket and waits `ms` for any byte: what a silent peer gives a dialler. */
async function tcpProbe(port: number, ms: number): Promise<{ connected: boolean; bytes: number; closedByPeer: boolean }> {
  return new Promise((resolve) => {
    const out = { connected: false, bytes: 0, closedByPeer: false }
    const socket = connect(port, '127.0.0.1')
    socket.on('connect', () => {
      out.connected = true
      // a libp2p listener would answer multistream-select at once; a tarpit never does
      socket.write('/multistream/1.0.0\n')
    })
    socket.on('data', (d) => { out.bytes += d.length })
    socket.on('close', () => { out.closedByPeer = true })
    socket.on('error', () => {})
    setTimeout(() => {
      socket.destroy()
      resolve(out)
    }, ms)
  })
}

/** Time from starting a lookup to the first answer of any server. */
async function firstAnswerMs(client: Client): Promise<number> {
  const key = (await randomCids(1))[0].multihash.bytes
  const started = performance.now()
  for await (const event of client.services.dht.getClosestPeers(key, { signal: AbortSignal.timeout(20_000) })) {
    if (event.name === 'PEER_RESPONSE') return performance.now() - started
  }
  throw new Error('lookup ended without an answer')
}

async function medianAnswerMs(client: Client, rounds: number): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < rounds; i++) times.push(await firstAnswerMs(client))
  return times.sort((a, b) => a - b)[Math.floor(rounds / 2)]
}

const impls: Array<{ impl: Impl; name: string }> = [{ impl: 'js', name: 'js' }, { impl: 'go', name: '[go] go' }]

describe.each(impls)('$name servers: fault switches', ({ impl }) => {
  const skip = impl === 'go' && goSkipReason != null
  let net: Testnet
  let client: Client

  beforeAll(async () => {
    if (skip) return
    net = await startTestnet({ nodes: NODES, impl })
    client = await startClient(net.bootstrap)
  })

  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  it.skipIf(skip)('latency delays every answer by the set amount', async () => {
    await net.setLatency(300, 20)
    // no answer can come sooner than the smallest delay drawn
    const slow = await medianAnswerMs(client, 5)
    await net.setLatency(0)
    const off = await medianAnswerMs(client, 5)
    console.log(`${impl}: first answer with 300±20 ms latency ${slow.toFixed(0)} ms, with it off ${off.toFixed(0)} ms`)
    expect(slow).toBeGreaterThanOrEqual(280)
    expect(off).toBeLessThan(slow - 200)
    expect(net.info().latency).toEqual({ meanMs: 0, jitterMs: 0 })
  })

  it.skipIf(skip)('tarpits accept TCP and never answer, and stay in routing tables', async () => {
    const victims = net.pickLive(0.2, { exclude: net.bootstrapIds })
    expect(victims.length).toBeGreaterThanOrEqual(3)
    await net.makeUnreachable(victims)
    const byId = new Map(net.nodes.map((n) => [n.peerId, n]))
    for (const id of victims) {
      const probe = await tcpProbe(portOf(byId.get(id)!), 1_500)
      expect(probe, `tarpit ${id}`).toEqual({ connected: true, bytes: 0, closedByPeer: false })
    }
    // a libp2p dial hangs until the dialler gives up, rather than failing fast
    const node = byId.get(victims[0])!
    const started = performance.now()
    await expect(client.dial(multiaddr(`${node.multiaddrs[0]}/p2p/${node.peerId}`), { signal: AbortSignal.timeout(2_000) })).rejects.toThrow()
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_900)

    const info = net.info()
    expect(info.nodes.filter((n) => n.state === 'unreachable').map((n) => n.peerId).sort()).toEqual([...victims].sort())
    const tables = await net.routingTables()
    expect(tables.size).toBe(NODES - victims.length)
    for (const id of victims) {
      const listing = [...tables.values()].filter((peers) => peers.has(id)).length
      expect(listing, `live tables still listing tarpit ${id}`).toBeGreaterThanOrEqual(3)
    }
  })

  it.skipIf(skip)('killed servers refuse at once and leave the live set', async () => {
    const victims = net.pickLive(0.1, { exclude: net.bootstrapIds })
    expect(victims.length).toBeGreaterThanOrEqual(2)
    await net.stopNodes(victims)
    const byId = new Map(net.nodes.map((n) => [n.peerId, n]))
    for (const id of victims) {
      const probe = await tcpProbe(portOf(byId.get(id)!), 300)
      expect(probe.connected, `killed ${id}`).toBe(false)
    }
    const mh = (await randomCids(1))[0].multihash.bytes
    expect(net.trueClosest(mh, NODES, { liveOnly: true }).some((id) => victims.includes(id))).toBe(false)
    expect(net.info().nodes.filter((n) => n.state === 'stopped').map((n) => n.peerId).sort()).toEqual([...victims].sort())
  })
})
