/**
 * The CLI side of the API's guards, through the real `sweep` bin: `sweep reset` empties the set
 * only with --allow-empty, and `sweep up` makes, uses and prints a token when none is set.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultCoordinatorConfig, startCoordinator, type Coordinator } from '@sweep/coordinator'
import { startRedisServer, type RedisServer } from '@sweep/store'
import { runSweep as sweep, SWEEP_BIN } from './run-sweep.ts'

describe('sweep reset', () => {
  let dir: string
  let redis: RedisServer
  let coordinator: Coordinator
  const total = async () => ((await (await fetch(`${coordinator.apiUrl}/v1/stats`)).json()) as { keys: { total: number } }).keys.total

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sweep-guards-cli-'))
    redis = await startRedisServer({ dir, appendOnly: false })
    coordinator = await startCoordinator({
      ...defaultCoordinatorConfig, redisUrl: redis.url, namespace: 'guards-cli',
      api: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }
    }, pino({ level: 'silent' }))
    const cids = await Promise.all(Array.from({ length: 20 }, async () => CID.createV1(raw.code, await sha256.digest(randomBytes(32))).toString()))
    await fetch(`${coordinator.apiUrl}/v1/provide`, { method: 'POST', body: cids.join('\n') })
  })

  afterAll(async () => {
    await coordinator?.stop()
    await redis?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('does not empty the set from a file without a valid CID, and does with --allow-empty', async () => {
    const refused = await sweep(['reset', '-', '--api', coordinator.apiUrl], 'typo-1\ntypo-2\n')
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain('--allow-empty')
    expect(refused.stderr).toContain('the reprovide set is unchanged')
    expect(await total()).toBe(20)
    const emptied = await sweep(['reset', '-', '--allow-empty', '--json', '--api', coordinator.apiUrl], '')
    expect(emptied.status).toBe(0)
    expect(JSON.parse(emptied.stdout)).toMatchObject({ committed: true, total: 0 })
    expect(await total()).toBe(0)
  })
})

describe('sweep up', () => {
  it('makes a token when none is set, gives it to the coordinator and its own clients, and prints it with the API URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sweep-api-cli-up-'))
    const env = { ...process.env }
    delete env.SWEEP_API_TOKEN
    const child = spawn(process.execPath, [SWEEP_BIN, 'up', '--testnet', '4', '--impl', 'js', '--workers', '1', '--redis', 'private', '--dir', dir, '--api', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'], env
    })
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
    let stderr = ''
    try {
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString()
          if (/try: .*\n/.test(stderr)) resolve()
        })
        void exited.then(() => reject(new Error(`sweep up exited early:\n${stderr}`)))
      })
      const url = /API +(http:\/\/\S+)/.exec(stderr)?.[1]
      const token = /token +(\S+) +\(generated; export SWEEP_API_TOKEN=(\S+) /.exec(stderr)
      expect(url).toBeDefined()
      expect(token?.[1]).toMatch(/^[\w-]{32}$/)
      expect(token?.[2]).toBe(token?.[1])
      expect(stderr).toContain(`sweep stats --api ${url} --token ${token?.[1]}`)
      expect((await fetch(`${url}/v1/stats`)).status).toBe(401)
      expect((await fetch(`${url}/v1/stats`, { headers: { authorization: `Bearer ${token?.[1]}` } })).status).toBe(200)
    } finally {
      child.kill('SIGINT')
      await exited
    }
  }, 120_000)
})
