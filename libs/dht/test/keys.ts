import { createHash, randomBytes } from 'node:crypto'
import { kadKeyOf } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'

/** sha2-256 multihashes of random bytes: js servers reject keys that don't decode as a CID, and these do (as CIDv0). */
export function randomProvideKeys(n: number): ProvideKey[] {
  return Array.from({ length: n }, () => {
    const digest = createHash('sha256').update(randomBytes(32)).digest()
    const multihash = new Uint8Array([0x12, 0x20, ...digest])
    return { multihash, key: kadKeyOf(multihash) }
  })
}
