import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Peer, ProvideKey, RecordSender, SendOutcome } from '@sweep/sweep'

/** Outlives a job's retries and hand-backs (minutes), never a provider record (48 h on Amino). */
const CHECKPOINT_TTL_S = 3600

/**
 * What one job's sends got confirmed, so a re-run of the job (handed back by a stopping
 * worker, retried after a failure, recovered from a crash) does not send those records
 * again. An entry is a (peer, exact key list) send and how many of its first records
 * the peer confirmed: a re-run that puts the same keys on the same peer sends only the
 * rest; any other send (new peers found, keys added) goes out whole, so a checkpoint can
 * only save records, never lose one.
 */
export class JobCheckpoint {
  /** Records skipped because a previous run of the job had them confirmed. */
  skipped = 0
  private readonly redis: Redis
  private readonly key: string
  private readonly done: Map<string, number>
  private writes: Promise<unknown> = Promise.resolve()

  private constructor(redis: Redis, key: string, done: Map<string, number>) {
    this.redis = redis
    this.key = key
    this.done = done
  }

  static async load(redis: Redis, namespace: string, jobId: string): Promise<JobCheckpoint> {
    const key = `${namespace}:checkpoint:${jobId}`
    const entries = await redis.hgetall(key)
    return new JobCheckpoint(redis, key, new Map(Object.entries(entries).map(([send, n]) => [send, Number(n)])))
  }

  /** Records confirmed by earlier runs of this job. */
  get carried(): number {
    let n = 0
    for (const count of this.done.values()) n += count
    return n
  }

  async send(inner: RecordSender, peer: Peer, keys: readonly ProvideKey[], options?: { signal?: AbortSignal }): Promise<SendOutcome> {
    const id = sendId(peer, keys)
    const confirmed = Math.min(this.done.get(id) ?? 0, keys.length)
    this.skipped += confirmed
    if (confirmed === keys.length) return { sent: keys.length }
    const outcome = await inner.send(peer, confirmed === 0 ? keys : keys.slice(confirmed), options)
    const sent = confirmed + Math.min(Math.max(outcome.sent, 0), keys.length - confirmed)
    if (sent > confirmed) {
      this.done.set(id, sent)
      // written as sends finish, before any hand-back: the next run reads them when it starts
      this.writes = this.redis.multi().hset(this.key, id, sent).expire(this.key, CHECKPOINT_TTL_S).exec().catch(() => undefined)
    }
    return { ...outcome, sent }
  }

  /** The job is done: a later run of it (next cycle's has another id anyway) starts clean. */
  async clear(): Promise<void> {
    await this.writes
    await this.redis.del(this.key)
  }
}

function sendId(peer: Peer, keys: readonly ProvideKey[]): string {
  const hash = createHash('sha256').update(peer.id)
  for (const key of keys) hash.update(key.multihash)
  return hash.digest('base64url').slice(0, 22)
}

/**
 * The host's sender, routing each send through its job's checkpoint. Jobs share one
 * sender (one Sweeper per host), and each passes its own AbortSignal down to every send:
 * that signal names the job.
 */
export class CheckpointingSender {
  private readonly jobs = new WeakMap<AbortSignal, JobCheckpoint>()

  bind(signal: AbortSignal, checkpoint: JobCheckpoint): void {
    this.jobs.set(signal, checkpoint)
  }

  sender(inner: RecordSender): RecordSender {
    return {
      send: (peer, keys, options) => {
        const checkpoint = options?.signal === undefined ? undefined : this.jobs.get(options.signal)
        return checkpoint === undefined ? inner.send(peer, keys, options) : checkpoint.send(inner, peer, keys, options)
      },
      ...(inner.release === undefined ? {} : { release: (peers: readonly Peer[]) => inner.release!(peers) })
    }
  }
}
