import { hash } from 'node:crypto'

/** SHA-256's round constants. */
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
])
const W = new Int32Array(64)

/**
 * The first 32 bits of SHA-256(bytes[start, end)), which is all a bucket needs. A message of up to 55
 * bytes (a sha2-256 multihash is 34) is one padded block, hashed here in plain JS: about
 * 3× faster than crypto.hash, whose cost for so small an input is mostly the call into C++.
 * Longer messages go to crypto.hash. Checked against it in the tests.
 */
export function sha256Head(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const n = end - start
  if (n > 55) return hash('sha256', bytes.subarray(start, end), 'buffer').readUInt32BE(0)
  const w = W
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const at = start + i
    w[i >> 2] = (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]
  }
  let tail = 0
  let shift = 24
  for (; i < n; i++, shift -= 8) tail |= bytes[start + i] << shift
  let j = n >> 2
  w[j++] = tail | (0x80 << shift)
  for (; j < 15; j++) w[j] = 0
  w[15] = n * 8
  for (let t = 16; t < 64; t++) {
    const a = w[t - 15]
    const b = w[t - 2]
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3)
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10)
    w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0
  }
  let a = 0x6a09e667 | 0
  let b = 0xbb67ae85 | 0
  let c = 0x3c6ef372 | 0
  let d = 0xa54ff53a | 0
  let e = 0x510e527f | 0
  let f = 0x9b05688c | 0
  let g = 0x1f83d9ab | 0
  let h = 0x5be0cd19 | 0
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  return (a + 0x6a09e667) >>> 0
}

/** The bucket of a multihash: the first bucketBits bits of its kad key. */
export function bucketOfMultihash(multihash: Uint8Array, bucketBits: number): number {
  return sha256Head(multihash) >>> (32 - bucketBits)
}

/** Which of its bucket's 2^(toBits - bucketBits) children a multihash goes to when re-bucketed to toBits. */
export function childOfMultihash(multihash: Uint8Array, bucketBits: number, toBits: number): number {
  return bucketOfMultihash(multihash, toBits) & (2 ** (toBits - bucketBits) - 1)
}
