import type { KadKey } from './key.ts'
import { prefixOf, prefixToInt, type Prefix } from './prefix.ts'

/** Slots are computed on at most this many bits: finer prefixes share their 24-bit slot. */
export const SLOT_BITS = 24

/**
 * When in the cycle a prefix is due, as an offset from the cycle start:
 * interval × (prefix XOR selfPrefix) / 2^len. XOR with the provider's own prefix
 * spreads regions evenly and makes different providers sweep in different orders.
 */
export function slotOffset(prefix: Prefix, self: KadKey, intervalMs: number): number {
  const bits = prefix.slice(0, SLOT_BITS)
  if (bits.length === 0) return 0
  const position = (prefixToInt(bits) ^ prefixToInt(prefixOf(self, bits.length))) >>> 0
  return Math.floor((intervalMs * position) / 2 ** bits.length)
}
