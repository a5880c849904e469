/**
 * The client subcommands as a user runs them: the real `sweep` bin in a child process
 * against a real coordinator (in this process) on a real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { startRedisServer, type RedisServer } from '@sweep/store'
import { defaultCoordinatorConfig, startCoordinator, type Coordinator } from '@sweep/coordinator'
import { runSweep as sweep, SWEEP_BIN } from './run-sweep.ts'

async function randomCids(n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(CID.createV1(raw.code, await sha256.digest(randomBytes(32))).toString())
  return out
}

describe('sweep provide / stop / reset / stats / status against a real coordinator', () => {
  let dir: string
  let redis: RedisServer
  let coordinator: Coordinator
  let api: string[]
  const log = pino({ level: 'silent' })

  // outcomes are checked on the API directly; the CLI's own stats/status output has its own test
  const stats = async (): Promise<{ keys: { total: number } }> => (await fetch(`${coordinator.apiUrl}/v1/stats`)).json() as Promise<{ keys: { total: number } }>
  const stored = async (cid: string): Promise<boolean> =>
    ((await (await fetch(`${coordinator.apiUrl}/v1/cids/${cid}`)).json()) as { stored: boolean }).stored

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sweep-client-api-'))
    redis = await startRedisServer({ dir: join(dir, 'redis') })
    coordinator = await startCoordinator({
      ...defaultCoordinatorConfig, redisUrl: redis.url, namespace: 'client-api',
      api: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }
    }, log)
    api = ['--api', coordinator.apiUrl]
  })

  afterAll(async () => {
    await coordinator?.stop()
    await redis?.stop()
  })

  it('provides a file in many chunks, reports bad lines by file line number, keeps the rest, and exits 3', async () => {
    const good = await randomCids(3000)
    const lines = [...good]
    // an identity-hash CID parses but js DHT servers would reject it; a typo doesn't parse
    const idCid = CID.createV1(raw.code, identity.digest(new TextEncoder().encode('hi'))).toString()
    lines.splice(10, 0, 'not-a-cid')
    lines.splice(1500, 0, idCid)
    lines.splice(2999, 0, '# a comment', '', 'bafy-typo')
    const file = join(dir, 'provide.txt')
    await writeFile(file, lines.join('\r\n'))
    // ~64 lines per request: line numbers must survive the chunking
    const run = await sweep(['provide', file, '--chunk-bytes', '4096', '--json', ...api])
    expect(run.status).toBe(3)
    const summary = JSON.parse(run.stdout) as { accepted: number; added: number; duplicates: number; invalidCount: number; lines: number; chunks: number }
    expect(summary).toMatchObject({ accepted: 3000, added: 3000, duplicates: 0, invalidCount: 3, lines: 3005 })
    expect(summary.chunks).toBeGreaterThan(40)
    expect(run.stderr).toContain('line 11: "not-a-cid": ')
    expect(run.stderr).toMatch(new RegExp(`line 1501: "${idCid}": .*sha2-256`))
    expect(run.stderr).toContain('line 3002: "bafy-typo": ')
    expect((await stats()).keys.total).toBe(3000)
    expect(await stored(good[2999] as string)).toBe(true)

    // the same keys again from stdin: all duplicates, nothing invalid, exit 0, human summary
    const again = await sweep(['provide', ...api], good.slice(0, 500).join('\n'))
    expect(again.status).toBe(0)
    expect(again.stdout).toMatch(/added \(new\) +0\n/)
    expect(again.stdout).toMatch(/duplicates +500\n/)
  })

  it('marks CIDs provided with --once as not kept', async () => {
    const [once] = await randomCids(1)
    const run = await sweep(['provide', '--once', '--json', ...api], `${once}\n`)
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ accepted: 1, added: 1 })
    const status = await (await fetch(`${coordinator.apiUrl}/v1/cids/${once}`)).json() as { stored: boolean; once: boolean }
    expect(status.once).toBe(true)
  })

  it('stops CIDs and reports how many were in the set', async () => {
    const before = (await stats()).keys.total
    const extra = await randomCids(200)
    expect((await sweep(['provide', ...api], extra.join('\n'))).status).toBe(0)
    const unknown = (await randomCids(1))[0] as string
    const run = await sweep(['stop', '-', '--json', ...api], [...extra.slice(0, 150), unknown].join('\n'))
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ accepted: 151, removed: 150, invalidCount: 0 })
    expect((await stats()).keys.total).toBe(before + 50)
    expect(await stored(extra[0] as string)).toBe(false)
    expect(await stored(extra[199] as string)).toBe(true)
  })

  it('replaces the set atomically: a strict reset with a bad line changes nothing, a normal one swaps it whole', async () => {
    const before = (await stats()).keys.total
    const next = await randomCids(1000)
    const file = join(dir, 'reset.txt')
    await writeFile(file, [...next.slice(0, 700), 'oops', ...next.slice(700)].join('\n') + '\n')

    const strict = await sweep(['reset', file, '--strict', '--chunk-bytes', '2048', ...api])
    expect(strict.status).toBe(3)
    expect(strict.stderr).toContain('line 701: "oops": ')
    expect(strict.stdout).toContain('aborted (--strict) because 1 line was invalid')
    expect((await stats()).keys.total).toBe(before)
    expect(await stored(next[0] as string)).toBe(false)

    const run = await sweep(['reset', file, '--chunk-bytes', '2048', '--json', ...api])
    expect(run.status).toBe(3)
    expect(JSON.parse(run.stdout)).toMatchObject({ accepted: 1000, invalidCount: 1, committed: true, total: 1000 })
    expect((await stats()).keys.total).toBe(1000)
    expect(await stored(next[999] as string)).toBe(true)
  })

  it('aborts a reset on Ctrl-C and leaves the set as it was', async () => {
    const before = (await stats()).keys.total
    const child = spawn(process.execPath, [SWEEP_BIN, 'reset', '-', '--chunk-bytes', '4096', '--concurrency', '1', ...api], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
    // feed stdin without ending it until well past the pipe buffer: the CLI is then mid-upload
    const lines = (await randomCids(20_000)).map((c) => `${c}\n`).join('')
    let written = 0
    while (written < 600_000) {
      const piece = lines.slice(written, written + 16_384)
      if (!child.stdin.write(piece)) await new Promise((resolve) => child.stdin.once('drain', resolve))
      written += piece.length
    }
    child.kill('SIGINT')
    expect(await exited).toBe(1)
    child.stdin.destroy()
    expect(stderr).toContain('interrupted (SIGINT)')
    expect(stderr).toContain('the upload was aborted and the reprovide set is unchanged')
    expect((await stats()).keys.total).toBe(before)
  })

  it('shows stats and status as JSON and in human form, and says when a CID is not in the set', async () => {
    const json = await sweep(['stats', '--json', ...api])
    expect(json.status).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ keys: { total: 1000 }, queues: { failed: 0 }, workers: [] })
    const human = await sweep(['stats', ...api])
    expect(human.status).toBe(0)
    for (const title of ['Keys:', 'Schedule / Cycle:', 'Queues:', 'Provides:', 'Network:']) expect(human.stdout).toContain(title)
    expect(human.stdout).toMatch(/CIDs: +1k \(1,000\)/)
    const { cids: [kept] } = await (await fetch(`${coordinator.apiUrl}/v1/sample?n=1`)).json() as { cids: string[] }
    const statusJson = await sweep(['status', kept as string, '--json', ...api])
    expect(statusJson.status).toBe(0)
    expect(JSON.parse(statusJson.stdout)).toMatchObject({ cid: kept, stored: true, expectedHolders: 20 })
    expect(JSON.parse(statusJson.stdout).kadKey).toMatch(/^[0-9a-f]{64}$/)

    const missing = (await randomCids(1))[0] as string
    const status = await sweep(['status', missing, ...api])
    expect(status.status).toBe(0)
    expect(status.stdout).toBe(`${missing} is not in the reprovide set (add it with \`sweep provide\`)\n`)
    const bad = await sweep(['status', 'definitely-not-a-cid', ...api])
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain('definitely-not-a-cid')
  })

  it('fails with exit 1 naming the URL and `sweep up` when nothing listens there', async () => {
    const run = await sweep(['provide', '--api', 'http://127.0.0.1:9'], 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy\n')
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('http://127.0.0.1:9')
    expect(run.stderr).toContain('sweep up')
  })
})

describe('sweep stats against a coordinator that requires a token', () => {
  let redis: RedisServer
  let coordinator: Coordinator

  beforeAll(async () => {
    redis = await startRedisServer({ dir: join(await mkdtemp(join(tmpdir(), 'sweep-client-token-')), 'redis') })
    coordinator = await startCoordinator({
      ...defaultCoordinatorConfig, redisUrl: redis.url, apiToken: 's3cret',
      api: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }
    }, pino({ level: 'silent' }))
  })

  afterAll(async () => {
    await coordinator?.stop()
    await redis?.stop()
  })

  it('exits 1 with a hint about --token without it, and works with it', async () => {
    const without = await sweep(['stats', '--api', coordinator.apiUrl])
    expect(without.status).toBe(1)
    expect(without.stderr).toContain('401')
    expect(without.stderr).toContain('--token')
    const withToken = await sweep(['stats', '--json', '--api', coordinator.apiUrl, '--token', 's3cret'])
    expect(withToken.status).toBe(0)
    expect(JSON.parse(withToken.stdout)).toHaveProperty('keys.total', 0)
  })
})
