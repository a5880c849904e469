import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { sha256 } from 'multiformats/hashes/sha2'
import { unpackMultihashes, type PackedMultihashes } from '@sweep/store'
import { TimeSlicer } from './time-slice.ts'

/** How many invalid lines a response lists; the count is always exact. */
export const MAX_LISTED_INVALID = 100

export interface InvalidLine {
  readonly line: number
  readonly input: string
  readonly error: string
}

/** What a request body held: valid CIDs counted, bad lines reported, the valid rest kept. */
export class LineTally {
  accepted = 0
  invalidCount = 0
  readonly invalid: InvalidLine[] = []

  reject(line: number, input: string, error: string): void {
    this.invalidCount++
    if (this.invalid.length < MAX_LISTED_INVALID) this.invalid.push({ line, input: input.slice(0, 200), error })
  }
}

/** The bytes of a sha2-256 multihash: 0x12 0x20 and the 32-byte digest. */
const MULTIHASH_BYTES = 34

/** base32 (RFC 4648 lower case, the CIDv1 default) character → value, 255 for anything else. */
const BASE32 = alphabetTable('abcdefghijklmnopqrstuvwxyz234567')
/** base58btc character → value, 255 for anything else. */
const BASE58 = alphabetTable('123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz')

function alphabetTable(alphabet: string): Uint8Array {
  const table = new Uint8Array(256).fill(255)
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i
  return table
}

const decoded = new Uint8Array(64)
const limbs = new Int32Array(MULTIHASH_BYTES / 2)

/**
 * The common CIDs without building a CID object: CIDv1 in base32 (`b…`, any codec of up
 * to 3 minimal varint bytes) and CIDv0 (`Qm…`), both sha2-256. Writes the 34 multihash bytes to
 * out at at and returns true; returns false for anything else, which the caller hands to
 * CID.parse, so every error keeps multiformats' message. Whatever this accepts, CID.parse
 * accepts with the same multihash (property-tested).
 */
function decodeCommonCid(text: Uint8Array, start: number, end: number, out: Uint8Array, at: number): boolean {
  const first = text[start]
  if (first === 0x62 /* b */) return decodeBase32V1(text, start + 1, end, out, at)
  if (first === 0x51 /* Q */ && end - start === 46) return decodeBase58V0(text, start, end, out, at)
  return false
}

function decodeBase32V1(text: Uint8Array, start: number, end: number, out: Uint8Array, at: number): boolean {
  const length = Math.floor((end - start) * 5 / 8)
  // version 1, a codec varint of 1 to 3 bytes, then the 34-byte multihash
  if (length < MULTIHASH_BYTES + 2 || length > MULTIHASH_BYTES + 4) return false
  let buffer = 0
  let bits = 0
  let written = 0
  for (let i = start; i < end; i++) {
    const value = BASE32[text[i]]
    if (value === 255) return false
    buffer = ((buffer << 5) | value) & 0x1fff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      decoded[written++] = buffer >> bits
    }
  }
  // what multiformats checks: no whole character left over, and the spare bits are zero
  if (bits >= 5 || ((buffer << (8 - bits)) & 0xff) !== 0) return false
  if (decoded[0] !== 1) return false
  let codecEnd = 1
  while (codecEnd < written && decoded[codecEnd] >= 0x80) codecEnd++
  // longer codec varints, and non-minimal ones (ending in 0x00, which multiformats refuses), go to CID.parse
  if (codecEnd > 3 || (codecEnd > 1 && decoded[codecEnd] === 0)) return false
  const multihash = codecEnd + 1
  if (written - multihash !== MULTIHASH_BYTES || decoded[multihash] !== 0x12 || decoded[multihash + 1] !== 0x20) return false
  out.set(decoded.subarray(multihash, written), at)
  return true
}

/**
 * 46 base58btc characters into 17 16-bit limbs, two characters (58² < 2^12) per step so
 * every product stays a small integer; only the limbs reached so far are multiplied.
 */
function decodeBase58V0(text: Uint8Array, start: number, end: number, out: Uint8Array, at: number): boolean {
  limbs.fill(0)
  let top = limbs.length - 1
  for (let i = start; i < end; i += 2) {
    const high = BASE58[text[i]]
    if (high === 255) return false
    let carry = high
    let scale = 58
    if (i + 1 < end) {
      const low = BASE58[text[i + 1]]
      if (low === 255) return false
      carry = high * 58 + low
      scale = 3364
    }
    let j = limbs.length - 1
    for (; j >= top || carry !== 0; j--) {
      if (j < 0) return false
      const sum = limbs[j] * scale + carry
      limbs[j] = sum & 0xffff
      carry = sum >>> 16
    }
    top = j + 1
  }
  if (limbs[0] !== 0x1220) return false
  for (let j = 0; j < limbs.length; j++) {
    out[at + 2 * j] = limbs[j] >> 8
    out[at + 2 * j + 1] = limbs[j] & 0xff
  }
  return true
}

/**
 * The longest CID text decoded. A sha2-256 CID is 34 to 39 bytes, 313 characters in base2 (the
 * longest multibase) and at most 64 in the bases CID.parse reads (base32, base36, base58btc),
 * so no CID is refused for its length. Longer text is refused unread: base58 and base36 decode
 * in time quadratic in the length, and one 100 KB line held the event loop for 7.5 s.
 */
export const MAX_CID_CHARS = 512

function tooLong(length: number): string {
  return `${length} characters long; a CID is at most ${MAX_CID_CHARS}, so it was not decoded`
}

/** What CID.parse says for any text that starts with none of Q, z, b or k (the bases it reads). */
const NO_BASE = 'not a CID (To parse non base32, base36 or base58btc encoded CID multibase decoder must be provided)'

/**
 * The same via multiformats, for every CID the fast path does not take: the multihash, or
 * multiformats' message. A message rather than a throw, so a body of a million bad entries
 * doesn't build two million stack traces.
 */
function parseMultihash(text: string): Uint8Array | string {
  const first = text[0]
  if (first !== 'Q' && first !== 'z' && first !== 'b' && first !== 'k') return NO_BASE
  let cid: CID
  try {
    cid = first === 'k' ? CID.parse(text, base36) : CID.parse(text)
  } catch (error) {
    return `not a CID (${error instanceof Error ? error.message : String(error)})`
  }
  if (cid.multihash.code !== sha256.code || cid.multihash.size !== 32) {
    return `multihash code 0x${cid.multihash.code.toString(16)} is not sha2-256; only sha2-256 CIDs can be provided`
  }
  return cid.multihash.bytes
}

/** multihashOf without the throw: the multihash, or why text is not one. */
export function multihashOrError(text: string): Uint8Array | string {
  if (text.length > MAX_CID_CHARS) return tooLong(text.length)
  if (text.length <= 64 && Buffer.byteLength(text) === text.length) {
    // ASCII only, so latin1 bytes are the characters
    const bytes = Buffer.from(text, 'latin1')
    const out = new Uint8Array(MULTIHASH_BYTES)
    if (decodeCommonCid(bytes, 0, bytes.length, out, 0)) return out
  }
  return parseMultihash(text)
}

/**
 * The multihash a provider record is about. Only sha2-256: js kad-dht servers decode the
 * record key as a CID and abort the whole stream on anything else, which would take the
 * region's other records down with it.
 */
export function multihashOf(text: string): Uint8Array {
  const outcome = multihashOrError(text)
  if (typeof outcome === 'string') throw new Error(outcome)
  return outcome
}

function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)
}

/** Lines kept whole across socket reads; past this a line is only counted (it is over MAX_CID_CHARS anyway). */
const MAX_CARRIED_LINE = 4096
/** Work units (a fast line is 1, any other 32) between looks at the clock. */
export const WORK_PER_CHECK = 256
const SLOW_LINE_WORK = 32

/** Room for the ASCII bytes of a short JSON entry, so the common ones decode without allocating. */
const entryBytes = Buffer.alloc(64)

/** A short account of a non-string JSON entry, without serializing a large one. */
function describeEntry(value: unknown): string {
  if (Array.isArray(value)) return '[array]'
  if (value !== null && typeof value === 'object') return '{object}'
  return String(JSON.stringify(value))
}

/**
 * Turns the lines of a body (or the entries of a JSON array) into multihashes, working on
 * the bytes: the common CIDs are decoded in place, back to back into one allocation per
 * batch; any other line becomes a string and goes the way it always did (String.trim,
 * CID.parse), so its outcome and message stay.
 */
export class CidPacker {
  line: number
  count = 0
  /** Work done since the caller last looked at the clock. */
  work = 0
  private readonly tally: LineTally
  private readonly batchSize: number
  private slab: Uint8Array
  private offsets: Uint32Array

  constructor(tally: LineTally, lineOffset: number, batchSize: number) {
    this.tally = tally
    this.line = lineOffset
    this.batchSize = batchSize
    this.slab = new Uint8Array(MULTIHASH_BYTES * batchSize)
    this.offsets = new Uint32Array(batchSize + 1)
  }

  /** One line, bytes [start, end) without its '\n'. */
  take(bytes: Uint8Array, start: number, end: number): void {
    this.line++
    this.work++
    let from = start
    let to = end
    while (from < to && isAsciiSpace(bytes[from])) from++
    while (to > from && isAsciiSpace(bytes[to - 1])) to--
    if (from === to || bytes[from] === 0x23 /* # */) return
    if (to - from > MAX_CID_CHARS) {
      this.overlong(Buffer.from(bytes.buffer, bytes.byteOffset + from, 200), to - from)
      return
    }
    if (this.count === this.offsets.length - 1) this.grow()
    const at = this.count * MULTIHASH_BYTES
    if (decodeCommonCid(bytes, from, to, this.slab, at)) {
      this.accept()
      return
    }
    this.work += SLOW_LINE_WORK
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8').trim()
    if (text === '' || text.startsWith('#')) return
    const outcome = parseMultihash(text)
    if (typeof outcome === 'string') {
      this.tally.reject(this.line, text, outcome)
      return
    }
    this.slab.set(outcome, at)
    this.accept()
  }

  /** One entry of a JSON array, at its 1-based position. */
  takeEntry(position: number, value: unknown): void {
    this.work++
    if (typeof value !== 'string') {
      this.tally.reject(position, describeEntry(value), 'cids entries must be strings')
      return
    }
    const text = value.trim()
    if (this.count === this.offsets.length - 1) this.grow()
    const at = this.count * MULTIHASH_BYTES
    if (text.length <= entryBytes.length && Buffer.byteLength(text) === text.length) {
      const length = entryBytes.write(text, 'latin1')
      if (decodeCommonCid(entryBytes, 0, length, this.slab, at)) {
        this.accept()
        return
      }
    }
    this.work += SLOW_LINE_WORK
    const outcome = multihashOrError(text)
    if (typeof outcome === 'string') {
      this.tally.reject(position, value, outcome)
      return
    }
    this.slab.set(outcome, at)
    this.accept()
  }

  /** A line of `length` bytes, of which only `head` was kept. */
  overlong(head: Uint8Array, length: number): void {
    this.tally.reject(this.line, Buffer.from(head).toString('utf8'), tooLong(length))
  }

  /** The batch so far, and fresh arrays for the next (the old ones stay in use). */
  takeBatch(): PackedMultihashes {
    const batch = { bytes: this.slab.subarray(0, this.count * MULTIHASH_BYTES), offsets: this.offsets.subarray(0, this.count + 1) }
    this.slab = new Uint8Array(MULTIHASH_BYTES * this.batchSize)
    this.offsets = new Uint32Array(this.batchSize + 1)
    this.count = 0
    return batch
  }

  private accept(): void {
    this.count++
    this.offsets[this.count] = this.count * MULTIHASH_BYTES
    this.tally.accepted++
  }

  private grow(): void {
    const slab = new Uint8Array(this.slab.length * 2)
    slab.set(this.slab)
    const offsets = new Uint32Array((this.offsets.length - 1) * 2 + 1)
    offsets.set(this.offsets)
    this.slab = slab
    this.offsets = offsets
  }
}

/** The multihashes of a packed batch, as views of its bytes. */
/** sha2-256 multihashes (34 bytes each) back to back. */
export function packSha256Multihashes(multihashes: readonly Uint8Array[]): PackedMultihashes {
  const bytes = new Uint8Array(MULTIHASH_BYTES * multihashes.length)
  const offsets = new Uint32Array(multihashes.length + 1)
  multihashes.forEach((multihash, i) => {
    bytes.set(multihash, i * MULTIHASH_BYTES)
    offsets[i + 1] = (i + 1) * MULTIHASH_BYTES
  })
  return { bytes, offsets }
}

/**
 * Streams a text/plain body as batches of at most batchSize multihashes, packed back to
 * back; line numbers start after lineOffset. Lets the event loop run every few ms.
 */
export async function * cidLinePacks(
  body: AsyncIterable<Buffer | string>, tally: LineTally, lineOffset: number, batchSize: number
): AsyncGenerator<PackedMultihashes> {
  const parser = new CidPacker(tally, lineOffset, batchSize)
  const slicer = new TimeSlicer()
  // the unfinished last line of the chunks so far; '\n' is never part of a multi-byte UTF-8 character
  let rest: Buffer | undefined
  // bytes of the unfinished line beyond rest, once it outgrew MAX_CARRIED_LINE
  let dropped = 0
  const finishRest = (tail: Uint8Array): void => {
    if (dropped > 0) {
      parser.line++
      let first = 0
      while (first < rest!.length && isAsciiSpace(rest![first])) first++
      // a long comment is still a comment
      if (rest![first] !== 0x23 /* # */) parser.overlong(rest!.subarray(first, first + 200), rest!.length + dropped + tail.length - first)
    } else {
      const line = Buffer.concat([rest!, tail])
      parser.take(line, 0, line.length)
    }
    rest = undefined
    dropped = 0
  }
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
    let start = 0
    let newline = bytes.indexOf(10)
    if (rest !== undefined && newline >= 0) {
      finishRest(bytes.subarray(0, newline))
      if (parser.count >= batchSize) yield parser.takeBatch()
      start = newline + 1
      newline = bytes.indexOf(10, start)
    }
    while (newline >= 0) {
      parser.take(bytes, start, newline)
      start = newline + 1
      newline = bytes.indexOf(10, start)
      if (parser.count >= batchSize) yield parser.takeBatch()
      if (parser.work >= WORK_PER_CHECK) {
        parser.work = 0
        await slicer.pause()
      }
    }
    if (start < bytes.length) {
      const tail = bytes.subarray(start)
      if (rest === undefined) rest = Buffer.from(tail)
      else if (dropped > 0 || rest.length + tail.length > MAX_CARRIED_LINE) dropped += tail.length
      else rest = Buffer.concat([rest, tail])
    }
    await slicer.pause()
  }
  if (rest !== undefined && rest.length > 0) finishRest(new Uint8Array(0))
  if (parser.count > 0) yield parser.takeBatch()
}

/** The same as arrays of multihashes. */
export async function * cidLineBatches(
  body: AsyncIterable<Buffer | string>, tally: LineTally, lineOffset: number, batchSize: number
): AsyncGenerator<Uint8Array[]> {
  for await (const packed of cidLinePacks(body, tally, lineOffset, batchSize)) yield unpackMultihashes(packed)
}
