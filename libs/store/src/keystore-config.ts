export const DEFAULT_BUCKET_BITS = 16

/** Mean keys per bucket that bucketBitsFor aims at: random keys then stay under 1024 in every bucket. */
export const TARGET_PER_BUCKET = 800

/** The bucketBits that keep every bucket of a set of this many keys listpack-encoded (at least the default). */
export function bucketBitsFor(keys: number): number {
  return Math.min(24, Math.max(DEFAULT_BUCKET_BITS, Math.ceil(Math.log2(Math.max(1, keys) / TARGET_PER_BUCKET))))
}

/** A reset cannot begin while the keystore is re-bucketed online; it can once that ends. */
export class RebucketingInProgressError extends Error {
  constructor(detail: string) {
    super(`the keystore is being re-bucketed online (${detail}); a reset can begin when it ends`)
    this.name = 'RebucketingInProgressError'
  }
}

/** Keystore.open with create: false found no keystore in the namespace. */
export class KeystoreMissingError extends Error {
  constructor(namespace: string) {
    super(`no keystore in namespace "${namespace}" yet: a coordinator creates it when it starts`)
    this.name = 'KeystoreMissingError'
  }
}

export interface KeystoreOptions {
  namespace?: string
  /**
   * Buckets are the first bucketBits bits of the kad key (1 to 24, default 16) when the
   * keystore is created here. A keystore that has fewer is to be re-bucketed to this many
   * (bitsWanted); one that has more, having grown, keeps them.
   */
  bucketBits?: number
  /**
   * Create the keystore when the namespace has none (default true). A worker opens with
   * false: were it to create one first, with the default bucketBits, the coordinator could
   * not open it with the bucketBits it was given.
   */
  create?: boolean
  /** A reset that adds nothing for this long loses its lock (default 60 s). */
  resetLockTtlMs?: number
  /**
   * One shard of a sharded keystore (see ShardedKeystore): its keys are those whose kad key
   * starts with `index` in `bits` bits, and its keys in Redis carry the shard's hash tag.
   */
  shard?: { readonly index: number; readonly bits: number }
  /**
   * A native add of a process silent this long is taken for dead: its buckets are marked
   * and the total recounted (default 5 s; see AddJournal).
   */
  writerTtlMs?: number
}
