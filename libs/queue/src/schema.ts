import { z } from 'zod'
import type { Prefix } from '@sweep/keyspace'
import type { RegionReport } from '@sweep/sweep'

/**
 * Job and result shapes, validated with zod at every queue boundary: the data
 * comes out of Redis, written by whatever version of the coordinator or worker
 * last touched it, so it is never trusted as-is.
 */

/** 'resweep': sent again soon because many of the region's peers failed in its last job. */
export type RegionReason = 'reprovide' | 'provide' | 'catch-up' | 'retry' | 'manual' | 'resweep'
export const REGION_REASONS: readonly RegionReason[] = ['reprovide', 'provide', 'catch-up', 'retry', 'manual', 'resweep']

/** Region jobs never carry keys: a worker reads the region's keys from the keystore when it runs. */
export interface RegionJob {
  readonly prefix: Prefix
  readonly reason: RegionReason
  /** 0 for the first try of this region in this cycle; the coordinator's retries increment it. */
  readonly attempt: number
  readonly cycle: number
  /** ms since the epoch */
  readonly enqueuedAt: number
  /** The job's own deadline, from its start: past it the worker stops sending and fails the job. */
  readonly timeoutMs?: number
}

export interface NetworkSample { readonly size: number; readonly prefixLength: number }

export interface RegionResult {
  /** Id of the region job this result is for. */
  readonly jobId: string
  readonly job: RegionJob
  /** Id of the worker that ran the job. */
  readonly worker: string
  /** Absent when the handler threw. */
  readonly report?: RegionReport
  readonly error?: string
  readonly finishedAt: number
  /** BullMQ attempts already made before this run (0 on the first run). */
  readonly attemptsMade?: number
  /** True when the handler threw and BullMQ will run the job again after its backoff. */
  readonly retrying?: boolean
}

/** Longest prefix a job may name: 2^64 regions is far past any real DHT. */
export const MAX_JOB_PREFIX_BITS = 64
/** Dead peers one report may list; a job that met more reports the first ones. */
export const MAX_DEAD_PEERS = 1024

const bitString = z.string({ error: 'must be a bit string' })
  .max(MAX_JOB_PREFIX_BITS, { error: `must be a bit string of at most ${MAX_JOB_PREFIX_BITS} bits` })
  .regex(/^[01]*$/, { error: "must be a bit string (only '0' and '1')" })
const count = z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(0, { error: 'must be ≥ 0' })
const nonNegative = z.number({ error: 'must be a number' }).min(0, { error: 'must be ≥ 0' })

export const regionJobSchema = z.object({
  prefix: bitString,
  reason: z.enum(REGION_REASONS as [RegionReason, ...RegionReason[]], { error: `must be one of ${REGION_REASONS.join(', ')}` }),
  attempt: count,
  cycle: count,
  enqueuedAt: nonNegative,
  timeoutMs: z.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(1, { error: 'must be ≥ 1' }).optional()
})

export const regionReportSchema = z.object({
  prefix: bitString,
  peerPrefix: bitString,
  regions: z.array(z.object({ prefix: bitString, peers: count }), { error: 'must be an array' }),
  mode: z.enum(['empty', 'plain', 'sweep'], { error: 'must be one of empty, plain, sweep' }),
  complete: z.boolean({ error: 'must be a boolean' }),
  keys: count,
  recordsSent: count,
  recordsFailed: count,
  recordsReplaced: count.optional(),
  peersFound: count,
  peersReached: count,
  peersFailed: count,
  lookups: count,
  durationMs: nonNegative,
  exploreMs: nonNegative.optional(),
  deadPeers: z.array(z.object({ prefix: bitString, at: nonNegative }), { error: 'must be an array' })
    .max(MAX_DEAD_PEERS, { error: `must list at most ${MAX_DEAD_PEERS} peers` }).optional(),
  succeeded: z.boolean({ error: 'must be a boolean' })
})

export const regionResultSchema = z.object({
  jobId: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }),
  job: regionJobSchema,
  worker: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }),
  report: regionReportSchema.optional(),
  error: z.string({ error: 'must be a string' }).optional(),
  finishedAt: nonNegative,
  attemptsMade: count.optional(),
  retrying: z.boolean({ error: 'must be a boolean' }).optional()
}).refine((result) => result.report !== undefined || result.error !== undefined, {
  error: 'needs a report or an error', path: ['report']
})

function parseWith<T>(schema: z.ZodType<T>, what: string, data: unknown): T {
  const parsed = schema.safeParse(data)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const path = issue.path.map(String).join('.')
  if (path === '') throw new Error(`${what}: ${typeof data === 'object' && data !== null ? issue.message : `expected an object, got ${data === null ? 'null' : typeof data}`}`)
  throw new Error(`${what}: ${path}: ${issue.message}`)
}

/** Throws an Error naming the bad field, e.g. "region job: prefix: must be a bit string (only '0' and '1')". */
export function parseRegionJob(data: unknown): RegionJob {
  return parseWith(regionJobSchema, 'region job', data)
}

export function parseRegionReport(data: unknown): RegionReport {
  return parseWith(regionReportSchema, 'region report', data)
}

/** Validates the embedded job and report too. */
export function parseRegionResult(data: unknown): RegionResult {
  return parseWith(regionResultSchema, 'region result', data)
}

/**
 * A region job's BullMQ progress, written as a run starts. keysReadFrom: Redis' clock (µs)
 * before the handler reads any key, so every key stored before it is in the run; dirty
 * marks carry the same clock, which lets the leader merge new keys into the running job.
 */
export interface RegionJobProgress {
  readonly keysReadFrom: number
}
