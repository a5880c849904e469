import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256 } from 'multiformats/hashes/sha2'
import { kadKeyOf } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'

/** n random sha2-256 multihashes: js servers only keep records whose key decodes as a CID. */
export async function randomCids(n: number): Promise<ProvideKey[]> {
  const out: ProvideKey[] = []
  for (let i = 0; i < n; i++) {
    const multihash = (await sha256.digest(randomBytes(32))).bytes
    out.push({ multihash, key: kadKeyOf(multihash) })
  }
  return out
}

export async function tempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `sweep-${name}-`))
}
