import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { DEFAULT_NAMESPACE, storeKeys, type StoreKeys } from './names.ts'
import type { Fence } from './schedule-store.ts'
import { defineScripts, runScript } from './scripts.ts'

export interface LeaseOptions {
  namespace?: string
  /** Unique per process: two holders with one id would both think they lead. */
  id: string
  /** Default 5000. */
  ttlMs?: number
}

export interface LeaseHandlers {
  onElected(fence: Fence): void | Promise<void>
  onLost(): void | Promise<void>
}

/**
 * The coordinator's leader lease: a key holding the leader's id with a TTL, and an
 * epoch counter that gives every election a larger fencing token.
 */
export class LeaderLease {
  readonly id: string
  readonly ttlMs: number
  private readonly redis: Redis
  private readonly names: StoreKeys

  constructor(redis: Redis, options: LeaseOptions) {
    if (!options.id) throw new Error('lease id: expected a non-empty string')
    const ttlMs = options.ttlMs ?? 5000
    if (!(Number.isInteger(ttlMs) && ttlMs >= 30)) throw new Error(`lease ttlMs: expected an integer ≥ 30, got ${ttlMs}`)
    this.redis = redis
    this.id = options.id
    this.ttlMs = ttlMs
    this.names = storeKeys(options.namespace ?? DEFAULT_NAMESPACE)
    defineScripts(redis)
  }

  /** Takes the lease if nobody holds it; the fence carries the new epoch. */
  async acquire(): Promise<Fence | undefined> {
    const token = await runScript(this.redis, 'sweepLeaseAcquire', [this.names.lease, this.names.leaseEpoch], [this.id, this.ttlMs]) as number
    return token === 0 ? undefined : { leaderId: this.id, token }
  }

  /** Extends the lease by ttl; false when it is no longer ours. */
  async renew(): Promise<boolean> {
    return await runScript(this.redis, 'sweepLeaseRenew', [this.names.lease], [this.id, this.ttlMs]) === 1
  }

  async release(): Promise<void> {
    await runScript(this.redis, 'sweepLeaseRelease', [this.names.lease], [this.id])
  }

  async holder(): Promise<string | undefined> {
    return await this.redis.get(this.names.lease) ?? undefined
  }

  /**
   * Campaigns until signal aborts: tries to acquire every ttl/3 while standby and
   * renews every ttl/3 while leader. The lease is counted from when a request was
   * sent, and a renew that has not succeeded a margin before that expiry counts as
   * lost, so this process stops leading before another one can be elected.
   * Handlers run one at a time in order (onLost waits for a slow onElected); the
   * lease keeps being renewed meanwhile. On abort a leader releases the lease and
   * gets onLost. A throwing handler ends hold() with its error, after releasing.
   */
  async hold(handlers: LeaseHandlers, signal: AbortSignal): Promise<void> {
    const interval = Math.floor(this.ttlMs / 3)
    const margin = Math.max(10, Math.floor(this.ttlMs / 10))
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal.aborted) resolve('aborted')
      else signal.addEventListener('abort', () => resolve('aborted'), { once: true })
    })
    let handlerChain: Promise<void> = Promise.resolve()
    let handlerError: { error: unknown } | undefined
    const stop = new AbortController()
    const run = (handler: () => void | Promise<void>) => {
      handlerChain = handlerChain.then(handler).catch((error: unknown) => {
        handlerError ??= { error }
        stop.abort()
      })
    }
    const stopped = AbortSignal.any([signal, stop.signal])
    let leading = false
    let validUntil = 0
    while (!stopped.aborted) {
      const started = Date.now()
      if (!leading) {
        const attempt = this.acquire()
        const outcome = await Promise.race([attempt.catch(() => undefined), aborted])
        if (outcome === 'aborted') {
          // a late success would leave a lease nobody renews: hand it back
          void attempt.then((fence) => fence && this.release()).catch(() => {})
          break
        }
        if (outcome !== undefined && !stopped.aborted && Date.now() < started + this.ttlMs - margin) {
          leading = true
          validUntil = started + this.ttlMs
          run(() => handlers.onElected(outcome))
        } else if (outcome !== undefined) {
          // elected too late to renew in time, or while stopping
          await this.release().catch(() => {})
        }
      } else {
        const renewed = await withDeadline(this.renew(), validUntil - margin - Date.now())
        if (renewed) {
          validUntil = started + this.ttlMs
        } else {
          leading = false
          run(() => handlers.onLost())
          // the renew may still land; give the lease back so a standby need not wait for it to expire
          void this.release().catch(() => {})
        }
      }
      const wake = leading ? Math.min(started + interval, validUntil - margin) : started + interval
      await sleep(Math.max(0, wake - Date.now()), undefined, { signal: stopped }).catch(() => {})
    }
    if (leading) {
      await withDeadline(this.release().then(() => true), this.ttlMs)
      run(() => handlers.onLost())
    }
    await handlerChain
    if (handlerError) throw handlerError.error
  }
}

/** True only if the promise resolves true within ms; errors and lateness are false. */
async function withDeadline(promise: Promise<boolean>, ms: number): Promise<boolean> {
  if (ms <= 0) {
    promise.catch(() => {})
    return false
  }
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([promise.catch(() => false), late])
  } finally {
    clearTimeout(timer)
  }
}
