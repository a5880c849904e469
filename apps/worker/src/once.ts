import type { Prefix } from '@sweep/keyspace'
import type { KeySource, ProvideKey } from '@sweep/sweep'
import type { AnyKeystore } from '@sweep/store'

/**
 * The region's keys from the keystore, remembering those stored with `provide --once`:
 * they leave the set only after the region that carried them succeeded, so a failed or
 * crashed job provides them again on retry.
 */
export class OnceTracker implements KeySource {
  private readonly keystore: AnyKeystore
  private readonly seen = new Map<Prefix, Uint8Array[]>()

  constructor(keystore: AnyKeystore) {
    this.keystore = keystore
  }

  async * keys(prefix: Prefix, batchSize: number): AsyncIterable<readonly ProvideKey[]> {
    const once: Uint8Array[] = []
    this.seen.set(prefix, once)
    for await (const batch of this.keystore.keys(prefix, batchSize)) {
      for (const key of batch) if (key.once) once.push(key.multihash)
      yield batch
    }
  }

  async forget(prefix: Prefix): Promise<number> {
    const once = this.seen.get(prefix) ?? []
    this.seen.delete(prefix)
    return once.length === 0 ? 0 : this.keystore.removeOnce(once)
  }

  drop(prefix: Prefix): void {
    this.seen.delete(prefix)
  }
}
