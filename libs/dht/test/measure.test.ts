// Measurements, printed rather than asserted: throughput of one reused stream
// against a stream per message, and the sender's CPU per record. The server
// runs in a child process so its CPU doesn't land on the sender's bill.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pbStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSweepHost, Libp2pSender, RecordEncoder } from '../src/index.ts'
import { randomProvideKeys } from './keys.ts'
import type { SweepHost } from '../src/index.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import type { Peer } from '@sweep/sweep'

const PROTOCOL = '/ipfs/kad/1.0.0'

describe('measure: ADD_PROVIDER throughput and sender CPU', () => {
  let child: ChildProcessWithoutNullStreams
  let replies: AsyncIterator<string>
  let peer: Peer
  let host: SweepHost

  beforeAll(async () => {
    child = spawn(process.execPath, [fileURLToPath(new URL('./server-process.ts', import.meta.url))], { stdio: 'pipe' })
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d))
    replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const info = JSON.parse((await replies.next()).value as string) as { id: string, addrs: string[] }
    peer = { id: info.id, key: new Uint8Array(32), addrs: info.addrs }
    host = await createSweepHost({ privateKey: await generateKeyPair('Ed25519'), bootstrap: info.addrs, sendTimeoutMs: 120_000 })
  })

  afterAll(async () => {
    await host?.stop()
    child?.stdin.end()
    if (child !== undefined && child.exitCode === null) await once(child, 'exit')
  })

  async function serverCpuMicros(): Promise<number> {
    child.stdin.write('cpu\n')
    const usage = JSON.parse((await replies.next()).value as string) as NodeJS.CpuUsage
    return usage.user + usage.system
  }

  async function timed(n: number, run: () => Promise<void>): Promise<string> {
    const serverBefore = await serverCpuMicros()
    const cpu = process.cpuUsage()
    const started = performance.now()
    await run()
    const seconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const serverUsed = (await serverCpuMicros()) - serverBefore
    return `${Math.round(n / seconds)} msg/s, sender ${((used.user + used.system) / n).toFixed(1)} µs CPU/msg, ` +
      `server ${(serverUsed / n).toFixed(1)} µs CPU/msg (n=${n}, ${seconds.toFixed(2)} s)`
  }

  it('prints messages/s and CPU per message', async () => {
    const rows: string[] = []
    // warm both processes up
    expect(await host.sender.send(peer, randomProvideKeys(2_000))).toEqual({ sent: 2_000 })

    const big = randomProvideKeys(30_000)
    rows.push(`reused stream (checkpoint 500, window 2): ` + await timed(big.length, async () => {
      expect(await host.sender.send(peer, big)).toEqual({ sent: big.length })
    }))

    for (const [chunk, window] of [[100, 2], [2_000, 2], [500, 1]]) {
      const sender = new Libp2pSender({
        libp2p: host.libp2p, protocol: PROTOCOL, encoder: new RecordEncoder(host.libp2p.peerId, host.announceAddrs()),
        checkpointChunk: chunk, checkpointWindow: window, sendTimeoutMs: 120_000
      })
      const keys = randomProvideKeys(20_000)
      rows.push(`reused stream (checkpoint ${chunk}, window ${window}): ` + await timed(keys.length, async () => {
        expect(await sender.send(peer, keys)).toEqual({ sent: keys.length })
      }))
      await sender.release([peer])
    }

    // the naive way: a fresh stream per record, closed after the write
    const encoder = new RecordEncoder(host.libp2p.peerId, host.announceAddrs())
    const connection = host.libp2p.getConnections().find((c) => c.remotePeer.toString() === peer.id)
    expect(connection).toBeDefined()
    const single = randomProvideKeys(1_000)
    rows.push(`new stream per message:                  ` + await timed(single.length, async () => {
      for (const k of single) {
        const stream = await connection!.newStream(PROTOCOL)
        await pbStream(stream).pb(encoder.codec).write(encoder.addProvider(k.multihash))
        await stream.close()
      }
    }))
    console.log(`[measure] one js server in a child process, loopback TCP:\n  ${rows.join('\n  ')}\n  sender stats ${JSON.stringify(host.sender.stats())}`)
  }, 300_000)
})
