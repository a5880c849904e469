/**
 * `sweep up`'s own logic: which Redis it picks, and how it fails. A running cluster on a
 * testnet (and the demo) is covered by the end-to-end tests, which can afford a testnet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, startRedisServer, type RedisServer } from '@sweep/store'
import { startLocalCluster } from '../src/up/cluster.ts'
import { tailOf } from '../src/up/processes.ts'
import { answersPing, chooseRedis } from '../src/up/redis.ts'

const tempDir = () => mkdtemp(join(tmpdir(), 'sweep-up-'))
/** A syntactically fine bootstrap address where nothing listens. */
const NOWHERE = '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

/** Our child processes running the sweep bin (the testnet or others' are not ours). */
function sweepChildren(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
  return out.split('\n').filter((line) => line.includes('sweep.js'))
}

describe('chooseRedis and answersPing', () => {
  let redis: RedisServer
  let notRedis: Server
  let notRedisPort: number

  beforeAll(async () => {
    redis = await startRedisServer({ dir: join(await tempDir(), 'redis') })
    // something that accepts connections but does not speak RESP
    notRedis = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
    await new Promise<void>((resolve) => notRedis.listen(0, '127.0.0.1', resolve))
    notRedisPort = (notRedis.address() as { port: number }).port
  })

  afterAll(async () => {
    await redis?.stop()
    notRedis?.close()
  })

  it('tells a Redis from a closed port and from another kind of server', async () => {
    expect(await answersPing('127.0.0.1', redis.port)).toBe(true)
    expect(await answersPing('127.0.0.1', await freePort())).toBe(false)
    expect(await answersPing('127.0.0.1', notRedisPort)).toBe(false)
  })

  it('uses a given URL as is, and starts a private redis-server in <dir>/redis on request', async () => {
    const dir = await tempDir()
    expect(await chooseRedis('redis://example:6380', dir)).toEqual({ url: 'redis://example:6380', source: 'given' })
    const own = await chooseRedis('private', dir)
    try {
      expect(own.source).toBe('started')
      expect(own.url).not.toBe('redis://127.0.0.1:6379')
      expect(await answersPing('127.0.0.1', Number(new URL(own.url).port))).toBe(true)
      expect(own.server?.dir).toBe(join(dir, 'redis'))
    } finally {
      await own.server?.stop()
    }
    expect(await answersPing('127.0.0.1', Number(new URL(own.url).port))).toBe(false)
  })
})

describe('startLocalCluster failures', () => {
  it('needs a DHT: a testnet or bootstrap addresses', async () => {
    await expect(startLocalCluster({ dir: await tempDir(), redis: 'redis://127.0.0.1:1' }))
      .rejects.toThrow('pass --testnet N to run a local test network, or --bootstrap MULTIADDR...')
  })

  it('refuses an API port that is already taken instead of talking to whoever holds it', async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const port = (busy.address() as { port: number }).port
    try {
      await expect(startLocalCluster({ dir: await tempDir(), redis: 'redis://127.0.0.1:1', bootstrap: [NOWHERE], api: `127.0.0.1:${port}` }))
        .rejects.toThrow(`something already listens on 127.0.0.1:${port}`)
    } finally {
      busy.close()
    }
    expect(sweepChildren()).toEqual([])
  })

  it('reports a process that dies during startup with the end of its log, and leaves nothing running', async () => {
    const dir = await tempDir()
    const deadRedis = `redis://127.0.0.1:${await freePort()}`
    const error = await startLocalCluster({
      dir, redis: deadRedis, bootstrap: [NOWHERE], workers: 1, api: '127.0.0.1:0', readyTimeoutMs: 60_000
    }).catch((e: unknown) => e as Error)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(/(coordinator|worker-1) exited \(code 1\); the end of .*\.log:/)
    expect((error as Error).message).toContain(deadRedis.replace('redis://', ''))
    // the identity was created before the processes, and every process has its log
    expect(existsSync(join(dir, 'identity.key'))).toBe(true)
    expect(existsSync(join(dir, 'logs', 'coordinator.log'))).toBe(true)
    expect(existsSync(join(dir, 'logs', 'worker-1.log'))).toBe(true)
    expect(sweepChildren()).toEqual([])
  }, 90_000)
})

describe('tailOf', () => {
  it('turns pino JSON into "level: msg: error" and leaves other lines alone', async () => {
    const file = join(await tempDir(), 'x.log')
    await writeFile(file, [
      JSON.stringify({ level: 30, msg: 'coordinator started' }),
      JSON.stringify({ level: 50, msg: 'loading failed', err: { message: 'boom' } }),
      'sweep: cannot reach Redis at redis://127.0.0.1:1',
      ''
    ].join('\n'))
    expect(tailOf(file, 2)).toBe('error: loading failed: boom\nsweep: cannot reach Redis at redis://127.0.0.1:1')
    expect(tailOf(join(file, 'missing'), 5)).toBe('(no log)')
  })
})
