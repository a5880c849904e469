import type { ConnectionOptions, Telemetry } from 'bullmq'
import { BullMQOtel } from 'bullmq-otel'
import type { Prefix } from '@sweep/keyspace'
import { connectRedis, parseClusterUrl } from '@sweep/store'
import type { RegionJob } from './schema.ts'

/**
 * Queue names, Redis keys and job ids.
 *
 * BullMQ keys are `${prefix}:${queue}:${suffix}` with prefix `{namespace}`: the
 * braces are a Redis Cluster hash tag, so every key of both queues lands in one
 * slot and BullMQ's multi-key Lua scripts work on a cluster.
 *
 * Autoscaling (KEDA `redis` trigger, `listName`): `{sweep}:regions:wait` is a
 * LIST holding every region job that is ready to run, provide-lane jobs included
 * (they are pushed to the head of the same list, see region-queue.ts), so its
 * LLEN is the backlog. Nothing is ever put in `{sweep}:regions:prioritized`.
 * Jobs waiting out a retry backoff are in the ZSET `{sweep}:regions:delayed` and
 * running ones in the LIST `{sweep}:regions:active`.
 */

export const DEFAULT_NAMESPACE = 'sweep'
export const REGIONS_QUEUE = 'regions'
export const RESULTS_QUEUE = 'results'

export interface QueueOptions {
  readonly redisUrl: string
  /** Default 'sweep'; the BullMQ prefix is the `{sweep}` hash tag. */
  readonly namespace?: string
}

export interface QueueKeys {
  /** BullMQ key prefix, a hash tag */
  readonly prefix: string
  /** Key prefix of the region-job queue */
  readonly regions: string
  /** LIST of ready region jobs (both lanes): the autoscaling signal */
  readonly regionsWait: string
  readonly regionsActive: string
  readonly regionsDelayed: string
  /** Key prefix of the results queue */
  readonly results: string
}

export function queueKeys(namespace: string = DEFAULT_NAMESPACE): QueueKeys {
  const prefix = bullPrefix(namespace)
  const regions = `${prefix}:${REGIONS_QUEUE}`
  return {
    prefix,
    regions,
    regionsWait: `${regions}:wait`,
    regionsActive: `${regions}:active`,
    regionsDelayed: `${regions}:delayed`,
    results: `${prefix}:${RESULTS_QUEUE}`
  }
}

export function bullPrefix(namespace: string = DEFAULT_NAMESPACE): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(namespace)) {
    throw new Error(`namespace: expected 1-64 letters, digits, '_' or '-', got ${JSON.stringify(namespace)}`)
  }
  return `{${namespace}}`
}

/**
 * What BullMQ connects with. For one Redis, options from which BullMQ opens (and closes)
 * its own connections. For a Redis Cluster, a Cluster client, since BullMQ builds a
 * standalone client from any options it is given; BullMQ duplicates it for blocking
 * commands but leaves it open, so the owner calls close() after closing the BullMQ object.
 */
export function connectionOf(options: QueueOptions): { connection: ConnectionOptions; close: () => Promise<void> } {
  if (typeof options.redisUrl !== 'string' || !/^rediss?(\+cluster)?:\/\//.test(options.redisUrl)) {
    // whatever it is, it may still carry a password before an '@'
    const shown = JSON.stringify(options.redisUrl)?.replace(/\/\/[^/]*@/, '//***@')
    throw new Error(`redisUrl: expected redis://HOST:PORT, rediss://... or redis+cluster://HOST:PORT,HOST:PORT, got ${shown}`)
  }
  if (parseClusterUrl(options.redisUrl) === undefined) {
    return { connection: { url: options.redisUrl, maxRetriesPerRequest: null } as ConnectionOptions, close: async () => {} }
  }
  const cluster = connectRedis(options.redisUrl, { name: 'sweep-bullmq' })
  return { connection: cluster as unknown as ConnectionOptions, close: async () => { await cluster.quit().catch(() => cluster.disconnect()) } }
}

/**
 * BullMQ rejects custom ids that contain ':' (unless they have exactly three
 * parts, a legacy repeatable-job shape) or parse as integers, so ids use '-'
 * and '.', and the whole keyspace ('' prefix) is spelled 'root'.
 */
function prefixPart(prefix: Prefix): string {
  return prefix === '' ? 'root' : prefix
}

/**
 * One job per region, reason, cycle and attempt, so re-enqueueing after a restart
 * is a no-op. Reasons keep separate lanes: a catch-up early in a cycle must not
 * swallow the region's regular slot later in it. Manual sweeps are told apart by
 * when they were asked for.
 */
export function regionJobId(job: Pick<RegionJob, 'prefix' | 'reason' | 'cycle' | 'attempt' | 'enqueuedAt'>): string {
  if (job.reason === 'manual') return `manual-${prefixPart(job.prefix)}-t${job.enqueuedAt}`
  return `${job.reason}-${prefixPart(job.prefix)}-c${job.cycle}-a${job.attempt}`
}

/** The single burst-lane job of a region (requestProvide). */
export function provideJobId(prefix: Prefix): string {
  return `provide-${prefixPart(prefix)}`
}

/**
 * Same region job, same attempt → same result id, so a re-delivered publish is
 * a no-op. The job's creation time tells apart two jobs that reuse one id
 * (a provide job re-added after the previous one finished).
 */
export function resultJobId(regionJobId: string, createdAt: number, attemptsMade: number): string {
  return `${regionJobId}.${createdAt}.${attemptsMade}`
}

/**
 * BullMQ's own OpenTelemetry spans (add, process, complete) on the global tracer, with the
 * trace context carried in each job's options, so a job's trace crosses the queue without
 * a field of ours. Built per queue object, after the process started its tracing.
 */
export function queueTelemetry(): Telemetry {
  return new BullMQOtel({ tracerName: 'bullmq' })
}
