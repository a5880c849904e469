/**
 * Seeded pseudo-random numbers (xoshiro128**, seeded through splitmix32).
 * Every random choice in the simulator goes through one of these, so a seed
 * fixes a whole run; Math.random is never used.
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    // splitmix32 spreads any integer seed (even 0) over a state that is never all zeros.
    let s = seedToUint32(seed)
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** A uniform float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.uint32() / 4294967296
  }

  /** A uniform integer in [0, n), for n up to 2^32. */
  /** Shuffles the array in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[items[i], items[j]] = [items[j], items[i]]
    }
    return items
  }

  int(n: number): number {
    // Multiply-shift instead of modulo: no bias worth caring about at simulator sizes.
    return Math.floor(this.float() * n)
  }

  /** A uniform integer in [min, max], both inclusive. */
  intBetween(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** Fills bytes with random values, four at a time. */
  fill(bytes: Uint8Array): Uint8Array {
    const whole = bytes.length & ~3
    for (let i = 0; i < whole; i += 4) {
      const r = this.uint32()
      bytes[i] = r >>> 24
      bytes[i + 1] = r >>> 16
      bytes[i + 2] = r >>> 8
      bytes[i + 3] = r
    }
    if (whole < bytes.length) {
      const r = this.uint32()
      for (let i = whole; i < bytes.length; i++) bytes[i] = r >>> (24 - 8 * (i - whole))
    }
    return bytes
  }

  bytes(length: number): Uint8Array {
    return this.fill(new Uint8Array(length))
  }
}

/**
 * A seed for an independent stream of one seed: the network's keys, its routing
 * tables and its latencies each get their own, so adding draws to one stream
 * never shifts the others.
 */
export function deriveSeed(seed: number, stream: number): number {
  let h = Math.imul(seedToUint32(seed) ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d)
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39)
  return (h ^ (h >>> 15)) >>> 0
}

function seedToUint32(seed: number): number {
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`)
  // Fold the high bits of large or fractional seeds in, so 1 and 2^32 + 1 differ.
  const high = Math.floor(seed / 4294967296)
  return ((seed >>> 0) ^ Math.imul(high | 0, 0x27d4eb2d) ^ Math.round((seed % 1) * 4294967296)) >>> 0
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
