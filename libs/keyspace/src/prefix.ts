import { bitAt, KEY_BITS, type KadKey } from './key.ts'

/**
 * A keyspace prefix as a string of '0' and '1' characters; '' is the whole keyspace.
 * Strings sort in keyspace order (a parent before its children), print readably,
 * and serve directly as Redis fields and job ids.
 */
export type Prefix = string

const PREFIX_PATTERN = /^[01]*$/

export function isPrefix(value: string): value is Prefix {
  return value.length <= KEY_BITS && PREFIX_PATTERN.test(value)
}

export function parsePrefix(value: string, field = 'prefix'): Prefix {
  if (!isPrefix(value)) throw new Error(`${field}: expected a bit string of '0' and '1' (at most ${KEY_BITS}), got ${JSON.stringify(value)}`)
  return value
}

export function prefixOf(key: KadKey, length: number): Prefix {
  let out = ''
  for (let i = 0; i < length; i++) out += bitAt(key, i)
  return out
}

export function keyHasPrefix(key: KadKey, prefix: Prefix): boolean {
  for (let i = 0; i < prefix.length; i++) {
    if (bitAt(key, i) !== (prefix.charCodeAt(i) - 48)) return false
  }
  return true
}

export function isAncestorOrSelf(ancestor: Prefix, prefix: Prefix): boolean {
  return prefix.startsWith(ancestor)
}

export function parentOf(prefix: Prefix): Prefix {
  if (prefix === '') throw new Error('the whole keyspace has no parent')
  return prefix.slice(0, -1)
}

export function siblingOf(prefix: Prefix): Prefix {
  if (prefix === '') throw new Error('the whole keyspace has no sibling')
  return prefix.slice(0, -1) + (prefix.endsWith('0') ? '1' : '0')
}

export function childrenOf(prefix: Prefix): [Prefix, Prefix] {
  return [prefix + '0', prefix + '1']
}

/** The prefixes of one length, in keyspace order. */
export function prefixesOfLength(length: number): Prefix[] {
  if (length > 24) throw new Error(`refusing to list 2^${length} prefixes`)
  const out: Prefix[] = []
  for (let i = 0; i < 2 ** length; i++) out.push(length === 0 ? '' : i.toString(2).padStart(length, '0'))
  return out
}

/** The value of a prefix's bits as an unsigned integer (at most 32 bits). */
export function prefixToInt(prefix: Prefix): number {
  if (prefix.length > 32) throw new Error(`prefix longer than 32 bits: ${prefix.length}`)
  return prefix === '' ? 0 : parseInt(prefix, 2)
}

/** A key inside the prefix: its bits, then the given filler bits (default zeros). */
export function keyInPrefix(prefix: Prefix, filler?: KadKey): KadKey {
  const key = filler ? new Uint8Array(filler) : new Uint8Array(KEY_BITS / 8)
  for (let i = 0; i < prefix.length; i++) {
    const mask = 1 << (7 - (i & 7))
    if (prefix[i] === '1') key[i >>> 3] |= mask
    else key[i >>> 3] &= ~mask
  }
  return key
}
