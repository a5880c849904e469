/**
 * A real 40-server testnet over two processes: startup, routing tables,
 * global XOR knowledge, the info file, and stopping servers.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestnet, type Testnet, type TestnetInfo } from '../src/index.ts'
import { randomCids, startClient, type Client } from './client.ts'

const NODES = 40
const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())
const big = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))

/** Independent of the library: hash the peer ids ourselves and sort by BigInt XOR. */
function bruteForceClosest(net: Testnet, multihash: Uint8Array, k: number, exclude: Set<string> = new Set()): string[] {
  const target = big(sha(multihash))
  return net.nodes
    .filter((n) => !exclude.has(n.peerId))
    .map((n) => ({ id: n.peerId, d: big(sha(peerIdFromString(n.peerId).toMultihash().bytes)) ^ target }))
    .sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0))
    .slice(0, k)
    .map((n) => n.id)
}

describe('testnet of 40 servers in 2 processes', () => {
  let net: Testnet
  let client: Client | undefined

  beforeAll(async () => {
    net = await startTestnet({ nodes: NODES, processes: 2 })
    console.log(`testnet: ${NODES} servers started in ${net.info().startupMs} ms`, net.info().routingTable)
  })

  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  it('runs every server, spread over both processes, with its kad key', () => {
    expect(net.nodes).toHaveLength(NODES)
    expect(new Set(net.nodes.map((n) => n.peerId)).size).toBe(NODES)
    expect(new Set(net.nodes.map((n) => n.process))).toEqual(new Set([0, 1]))
    for (const n of net.nodes) {
      expect(n.multiaddrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/)
      expect(Buffer.from(n.kadKey).equals(sha(peerIdFromString(n.peerId).toMultihash().bytes))).toBe(true)
    }
    expect(net.bootstrap.length).toBeGreaterThanOrEqual(3)
    for (const b of net.bootstrap) expect(b).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo/)
  })

  it('fills every routing table with at least 15 peers', async () => {
    const tables = await net.measureTables()
    expect(tables.size).toBe(NODES)
    for (const [id, t] of tables) expect(t.size, `routing table of ${id}`).toBeGreaterThanOrEqual(15)
    expect(net.info().routingTable.neighbourhood).toBeGreaterThan(0.9)
  })

  it('returns the k XOR-closest distinct ids, closest first', async () => {
    for (const cid of await randomCids(20)) {
      const mh = cid.multihash.bytes
      for (const k of [1, 20, NODES]) {
        const got = net.trueClosest(mh, k)
        expect(new Set(got).size).toBe(k)
        expect(got).toEqual(bruteForceClosest(net, mh, k))
      }
    }
  })

  it('writes an info file that round-trips as JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'testnet-'))
    try {
      const file = join(dir, 'sub', 'info.json')
      await net.writeInfo(file)
      const info = JSON.parse(await readFile(file, 'utf8')) as TestnetInfo
      expect(info).toEqual(JSON.parse(JSON.stringify(net.info())))
      expect(info.nodes).toHaveLength(NODES)
      expect(info.protocol).toBe('/ipfs/kad/1.0.0')
      expect(info.processes).toBe(2)
      expect(info.bootstrap).toEqual(net.bootstrap)
      expect(info.routingTable.min).toBeGreaterThanOrEqual(15)
      expect(info.startupMs).toBeGreaterThan(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  // Last: it changes the network for good.
  it('stops servers: they refuse connections and leave the live set', async () => {
    const cid = (await randomCids(1))[0]
    const mh = cid.multihash.bytes
    const victims = net.trueClosest(mh, 3)
    await net.stopNodes(victims)

    const stopped = new Set(victims)
    const live = net.trueClosest(mh, 20, { liveOnly: true })
    expect(live).toHaveLength(20)
    expect(live.some((id) => stopped.has(id))).toBe(false)
    expect(live).toEqual(bruteForceClosest(net, mh, 20, stopped))
    expect(net.trueClosest(mh, 3)).toEqual(victims)

    const info = net.info()
    expect(info.nodes.filter((n) => n.state === 'stopped').map((n) => n.peerId).sort()).toEqual([...victims].sort())
    expect((await net.measureTables()).size).toBe(NODES - 3)

    client = await startClient(net.bootstrap.filter((b) => !victims.some((v) => b.endsWith(v))))
    for (const id of victims) {
      const node = net.nodes.find((n) => n.peerId === id)!
      await expect(client.dial(multiaddr(`${node.multiaddrs[0]}/p2p/${id}`), { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    }
    // a live one still answers, so the failures above are about the stopped servers
    const alive = net.nodes.find((n) => !stopped.has(n.peerId))!
    await client.dial(multiaddr(`${alive.multiaddrs[0]}/p2p/${alive.peerId}`))

    // stopping is idempotent
    await net.stopNodes(victims)
    await expect(net.stopNodes(['12D3KooWnotanode'])).rejects.toThrow(/not a testnet node/)
  })
})
