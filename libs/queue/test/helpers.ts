import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startRedisServer, type RedisServer } from '@sweep/store'
import type { RegionReport } from '@sweep/sweep'
import { ResultConsumer, type RegionJob, type RegionResult } from '../src/index.ts'

export interface TestRedis {
  readonly url: string
  stop(): Promise<void>
}

/** A private redis-server in a temp dir; never the shared one on 6379. */
export async function startTestRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'sweep-queue-'))
  const server: RedisServer = await startRedisServer({ dir, appendOnly: false })
  return {
    url: server.url,
    stop: async () => {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

let namespaces = 0
/** Each test gets its own BullMQ prefix so queues never share state. */
export function freshNamespace(): string {
  return `t${process.pid}-${namespaces++}`
}

export async function waitFor(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(25)
  }
}

export function regionJob(prefix: string, overrides: Partial<RegionJob> = {}): RegionJob {
  return { prefix, reason: 'reprovide', attempt: 0, cycle: 1, enqueuedAt: Date.now(), ...overrides }
}

export function reportFor(prefix: string, keys = 10): RegionReport {
  return {
    prefix,
    peerPrefix: prefix,
    regions: [{ prefix, peers: 23 }],
    mode: 'sweep',
    complete: true,
    keys,
    recordsSent: keys * 20,
    recordsFailed: 1,
    peersFound: 23,
    peersReached: 22,
    peersFailed: 1,
    lookups: 3,
    durationMs: 12,
    succeeded: true
  }
}

/** A ResultConsumer that keeps every result it is handed, in order. */
export function collectResults(url: string, namespace: string): { results: RegionResult[]; consumer: ResultConsumer } {
  const results: RegionResult[] = []
  const consumer = new ResultConsumer({ redisUrl: url, namespace }, async (result) => { results.push(result) })
  return { results, consumer }
}
