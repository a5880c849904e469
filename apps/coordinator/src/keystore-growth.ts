import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { AnyKeystore, Keystore, Rebucketing } from '@sweep/store'

export interface KeystoreGrowthOptions {
  readonly keystore: AnyKeystore
  readonly log: Logger
  /** How often the leader looks at the keystore's size (default 30 s). */
  readonly checkEveryMs?: number
  /** After the switch, how long writes that read the old generation get to land (see RebucketRunOptions). */
  readonly drainMs?: number
  /** A re-bucketing ended, having read this many bytes of keys through this process. */
  readonly onRebucketed?: (bytesRead: number) => void
}

const PROGRESS_LOG_MS = 10_000
/** The same failure (no room in Redis, say) is logged again only after this long. */
const REPEAT_WARNING_MS = 10 * 60_000

/**
 * The leader's watch over the keystore's size. When its buckets average past what stays
 * listpack-encoded (or the coordinator was started with more --bucket-bits than the keystore
 * has), it re-buckets the keystore online; a re-bucketing a previous leader left unfinished
 * is taken up once that leader's lock has expired. Adds, removes and provides go on meanwhile.
 */
export async function watchKeystoreGrowth(options: KeystoreGrowthOptions, signal: AbortSignal): Promise<void> {
  const { keystore, log } = options
  let warned = { message: '', at: -Infinity }
  while (!signal.aborted) {
    try {
      // the shards of a sharded keystore grow alike but re-bucket one at a time: Redis holds one shard's copy at once
      for (const [index, shard] of keystore.shards.entries()) {
        const shardLog = keystore.shards.length === 1 ? log : log.child({ shard: index })
        const rebucketing = await nextRebucketing(shard, shardLog)
        if (rebucketing !== undefined) await runRebucketing(rebucketing, { ...options, log: shardLog }, signal)
        if (signal.aborted) return
      }
    } catch (error) {
      if (signal.aborted) return
      const message = (error as Error).message
      if (message !== warned.message || performance.now() - warned.at > REPEAT_WARNING_MS) {
        warned = { message, at: performance.now() }
        // the state is in Redis: the next check (or leader) resumes where this one stopped
        log.warn({ err: error }, 're-bucketing the keystore did not start or stopped; it is tried again at the next check')
      }
    }
    await sleep(options.checkEveryMs ?? 30_000, undefined, { signal }).catch(() => {})
  }
}

async function nextRebucketing(keystore: Keystore, log: Logger): Promise<Rebucketing | undefined> {
  if (await keystore.rebucketState() !== undefined) {
    const resumed = await keystore.resumeRebucket()
    if (resumed !== undefined) log.info({ fromBits: resumed.fromBits, toBits: resumed.toBits }, 'taking up an unfinished keystore re-bucketing')
    return resumed
  }
  const { current, wanted, perBucket } = await keystore.bitsWanted()
  if (wanted <= current) return undefined
  const begun = await keystore.beginRebucket(wanted)
  if (begun !== undefined) {
    log.info({ fromBits: current, toBits: wanted, keysPerBucket: Math.round(perBucket) },
      'the keystore outgrew its buckets: re-bucketing it online (adds and provides go on; Redis holds a second copy until it ends)')
  }
  return begun
}

async function runRebucketing(rebucketing: Rebucketing, options: KeystoreGrowthOptions, signal: AbortSignal): Promise<void> {
  let lastLog = performance.now()
  const outcome = await rebucketing.run({
    signal,
    drainMs: options.drainMs,
    onProgress: (progress) => {
      if (performance.now() - lastLog < PROGRESS_LOG_MS) return
      lastLog = performance.now()
      options.log.info({
        phase: progress.phase, copied: progress.cursor, buckets: 2 ** progress.fromBits, touched: progress.touched, passes: progress.passes
      }, 're-bucketing the keystore')
    }
  })
  options.log.info({
    fromBits: outcome.fromBits, toBits: outcome.toBits, copyMs: Math.round(outcome.copyMs), totalMs: Math.round(outcome.totalMs),
    passes: outcome.passes, membersCopied: outcome.membersCopied, membersMerged: outcome.membersMerged
  }, 're-bucketed the keystore')
  // a sha2-256 multihash is 34 bytes, read once and packed once
  options.onRebucketed?.(outcome.membersCopied * 68)
}
