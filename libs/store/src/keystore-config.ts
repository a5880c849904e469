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
