import { createHash } from 'node:crypto'

/** A point in the 256-bit Kademlia keyspace: SHA-256 of a multihash or of peer-ID bytes. */
export type KadKey = Uint8Array

export const KEY_BITS = 256

/** The kad key of some bytes (a multihash, a peer ID, or a lookup preimage). */
export function kadKeyOf(bytes: Uint8Array): KadKey {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

export function bitAt(key: KadKey, index: number): 0 | 1 {
  return ((key[index >>> 3] >>> (7 - (index & 7))) & 1) as 0 | 1
}

export function commonPrefixLength(a: KadKey, b: KadKey): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ^ b[i]
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return a.length * 8
}

/**
 * Orders a and b by XOR distance to target: negative when a is closer.
 * Only the first differing byte of a and b matters, so this never builds the distances.
 */
export function compareDistance(target: KadKey, a: KadKey, b: KadKey): number {
  for (let i = 0; i < target.length; i++) {
    if (a[i] !== b[i]) return (a[i] ^ target[i]) - (b[i] ^ target[i])
  }
  return 0
}

export function xorDistance(a: KadKey, b: KadKey): Uint8Array {
  const out = new Uint8Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i]
  return out
}

/** Byte-wise (= keyspace) order of two keys. */
export function compareKeys(a: KadKey, b: KadKey): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] - b[i]
  }
  return 0
}

export function keyToHex(key: KadKey): string {
  return Buffer.from(key).toString('hex')
}

/** The first 32 bits of a key as an unsigned integer. */
export function keyHead32(key: KadKey): number {
  return ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0
}
