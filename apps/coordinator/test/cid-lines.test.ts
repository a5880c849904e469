import { StringDecoder } from 'node:string_decoder'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { base32, base32upper } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { base64 } from 'multiformats/bases/base64'
import { create as createDigest } from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { unpackMultihashes } from '@sweep/store'
import { cidLineBatches, LineTally, MAX_CID_CHARS, multihashOf } from '../src/api/cid-lines.ts'
import { cidJsonPacks } from '../src/api/json-cids.ts'

/** multihashOf as it was before the fast path: every CID through CID.parse. */
function referenceMultihash(text: string): Uint8Array {
  let cid: CID
  try {
    cid = text.startsWith('k') ? CID.parse(text, base36) : CID.parse(text)
  } catch (error) {
    throw new Error(`not a CID (${error instanceof Error ? error.message : String(error)})`, { cause: error })
  }
  if (cid.multihash.code !== 0x12 || cid.multihash.size !== 32) {
    throw new Error(`multihash code 0x${cid.multihash.code.toString(16)} is not sha2-256; only sha2-256 CIDs can be provided`)
  }
  return cid.multihash.bytes
}

type Outcome = { ok: true; hex: string } | { ok: false; error: string }

function outcome(parse: (text: string) => Uint8Array, text: string): Outcome {
  try {
    return { ok: true, hex: Buffer.from(parse(text)).toString('hex') }
  } catch (error) {
    return { ok: false, error: (error as Error).message }
  }
}

/** The line splitting as it was: a StringDecoder, split on '\n', String.trim. */
function referenceLines(chunks: ReadonlyArray<Buffer | string>, lineOffset: number): { hex: string[]; tally: LineTally } {
  const tally = new LineTally()
  const hex: string[] = []
  const decoder = new StringDecoder('utf8')
  let rest = ''
  let line = lineOffset
  const take = (raw: string): void => {
    line++
    const text = raw.trim()
    if (text === '' || text.startsWith('#')) return
    try {
      hex.push(Buffer.from(referenceMultihash(text)).toString('hex'))
      tally.accepted++
    } catch (error) {
      tally.reject(line, text, (error as Error).message)
    }
  }
  for (const chunk of chunks) {
    const lines = (rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk))).split('\n')
    rest = lines.pop() ?? ''
    for (const raw of lines) take(raw)
  }
  rest += decoder.end()
  if (rest !== '') take(rest)
  return { hex, tally }
}

async function fastLines(chunks: ReadonlyArray<Buffer | string>, lineOffset: number, batchSize: number): Promise<{ hex: string[]; tally: LineTally; batches: number[] }> {
  const tally = new LineTally()
  const hex: string[] = []
  const batches: number[] = []
  async function * body(): AsyncGenerator<Buffer | string> { yield * chunks }
  for await (const batch of cidLineBatches(body(), tally, lineOffset, batchSize)) {
    batches.push(batch.length)
    for (const multihash of batch) hex.push(Buffer.from(multihash).toString('hex'))
  }
  return { hex, tally, batches }
}

const CODECS = [0x55, 0x70, 0x71, 0x0129, 0x0200, 0x4000, 0x200000]
const HASHES = [
  { code: 0x12, size: 32 }, { code: 0x12, size: 32 }, { code: 0x12, size: 20 }, { code: 0x13, size: 64 },
  { code: 0x00, size: 5 }, { code: 0xb220, size: 32 }
]

/** A CID as people write them: v0, or v1 in one of several bases, over various codecs and hashes. */
const cidText = fc.record({
  digest: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  hash: fc.constantFrom(...HASHES),
  codec: fc.constantFrom(...CODECS),
  v0: fc.boolean(),
  base: fc.constantFrom(base32, base32, base58btc, base36, base32upper, base64)
}).map(({ digest, hash, codec, v0, base }) => {
  const multihash = createDigest(hash.code, digest.subarray(0, hash.size))
  if (v0 && hash.code === 0x12 && hash.size === 32) return CID.createV0(createDigest(0x12, digest.subarray(0, 32))).toString()
  return CID.createV1(codec, multihash).toString(base)
})

/** Small damage to a text: a changed, dropped or added character, or padding. */
function damaged(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567QmBb1=0IlO \u00e9'
  return fc.tuple(text, fc.nat(), fc.constantFrom(...alphabet), fc.constantFrom('change', 'drop', 'add', 'pad', 'upper')).map(([t, at, char, how]) => {
    const i = at % Math.max(1, t.length)
    if (how === 'change') return t.slice(0, i) + char + t.slice(i + 1)
    if (how === 'drop') return t.slice(0, i) + t.slice(i + 1)
    if (how === 'add') return t.slice(0, i) + char + t.slice(i)
    if (how === 'pad') return `${t}=`
    return t.toUpperCase()
  })
}

/**
 * Bytes that are nearly a sha2-256 CID (other versions, codec varints of every length,
 * non-minimal ones, other multihash headers, short digests) in base32 or base58btc, with the
 * last character sometimes bent so the spare bits are not zero.
 */
const nearCid = fc.tuple(
  fc.constantFrom([1], [1], [0], [2], [0x12], [0x81, 0x00]),
  fc.constantFrom([0x55], [0x70], [0xa9, 0x02], [0x80, 0x00], [0x80, 0x80, 0x01], [0xff, 0xff, 0xff, 0x01], []),
  fc.constantFrom([0x12, 0x20], [0x12, 0x20], [0x12, 0x1f], [0x13, 0x20], [0x12, 0x21], [0x12]),
  fc.uint8Array({ minLength: 30, maxLength: 34 }),
  fc.constantFrom('b', 'b', 'z', 'Q'),
  fc.nat(31)
).map(([version, codec, header, digest, form, bend]) => {
  const bytes = Uint8Array.from([...(form === 'Q' ? [] : [...version, ...codec]), ...header, ...digest])
  if (form === 'b') {
    const text = base32.encode(bytes)
    const last = 'abcdefghijklmnopqrstuvwxyz234567'.indexOf(text[text.length - 1])
    return bend % 4 === 0 ? text.slice(0, -1) + 'abcdefghijklmnopqrstuvwxyz234567'[last ^ (bend & 7)] : text
  }
  return form === 'z' ? base58btc.encode(bytes) : base58btc.baseEncode(bytes)
})

const anyText = fc.oneof(
  { weight: 4, arbitrary: nearCid },
  { weight: 4, arbitrary: cidText },
  { weight: 4, arbitrary: damaged(cidText) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'bQmz2345abcxyz19AZ=#'), maxLength: 60 }).map((s) => s) },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) }
)

describe('multihashOf', () => {
  it('decides every input as CID.parse does, with the same multihash or the same message', () => {
    fc.assert(fc.property(anyText, (text) => {
      expect(outcome(multihashOf, text)).toEqual(outcome(referenceMultihash, text))
    }), { numRuns: 3000 })
  })

  it('takes the common forms and refuses other hashes with the existing message', () => {
    const digest = new Uint8Array(32).fill(7)
    const sha = createDigest(0x12, digest)
    const v1 = CID.createV1(0x55, sha).toString()
    const v0 = CID.createV0(sha).toString()
    expect(Buffer.from(multihashOf(v1)).toString('hex')).toBe(`1220${'07'.repeat(32)}`)
    expect(Buffer.from(multihashOf(v0)).toString('hex')).toBe(`1220${'07'.repeat(32)}`)
    expect(Buffer.from(multihashOf(CID.createV1(0x70, sha).toString(base36))).toString('hex')).toBe(`1220${'07'.repeat(32)}`)
    expect(() => multihashOf(CID.createV1(0x55, createDigest(0x13, new Uint8Array(64))).toString()))
      .toThrow('multihash code 0x13 is not sha2-256; only sha2-256 CIDs can be provided')
    expect(() => multihashOf(`${v1.slice(0, -1)}!`)).toThrow(/^not a CID \(Non-base32 character\)$/)
    expect(() => multihashOf(v0.slice(0, -1) + '0')).toThrow(/^not a CID/)
  })
})

/** Lines with the mess real files have: CRLF, blanks, comments, stray spaces, non-ASCII space, a BOM. */
const line = fc.tuple(
  fc.oneof({ weight: 6, arbitrary: anyText }, { weight: 1, arbitrary: fc.constantFrom('', '# a comment', '  ', '\t#x') }),
  fc.constantFrom('', ' ', '\t', '\u00a0', '\ufeff'),
  fc.constantFrom('', ' ', '\r', ' \r')
).map(([text, before, after]) => `${before}${text}${after}`)

/** The body cut into socket reads at arbitrary bytes (through UTF-8 characters too), some as strings. */
const body = fc.tuple(fc.array(line, { maxLength: 40 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean()).map(([lines, finalNewline, cuts, strings]) => {
  const bytes = Buffer.from(lines.join('\n') + (finalNewline ? '\n' : ''))
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Buffer | string> = []
  let from = 0
  for (const point of [...points, bytes.length]) {
    const piece = bytes.subarray(from, point)
    // a string chunk is what a caller passes already decoded, so only at character boundaries
    chunks.push(strings && piece.toString('utf8') === piece.toString('utf8').normalize() && Buffer.from(piece.toString('utf8')).equals(piece) ? piece.toString('utf8') : piece)
    from = point
  }
  return chunks
})

describe('cidLineBatches', () => {
  it('gives the same multihashes, line numbers and messages as the string splitter did', async () => {
    await fc.assert(fc.asyncProperty(body, fc.nat(1000), fc.integer({ min: 1, max: 7 }), async (chunks, lineOffset, batchSize) => {
      const expected = referenceLines(chunks, lineOffset)
      const actual = await fastLines(chunks, lineOffset, batchSize)
      expect(actual.hex).toEqual(expected.hex)
      expect(actual.tally).toEqual(expected.tally)
      expect(actual.batches.every((n) => n >= 1 && n <= batchSize)).toBe(true)
    }), { numRuns: 400 })
  })

  it('counts lines across chunks and keeps multihashes of earlier batches intact', async () => {
    const digest = (i: number) => createDigest(0x12, new Uint8Array(32).fill(i))
    const lines = Array.from({ length: 25 }, (_, i) => CID.createV1(0x55, digest(i)).toString())
    lines[10] = 'not-a-cid'
    const text = `${lines.join('\r\n')}\r\n`
    const chunks = [Buffer.from(text.slice(0, 100)), Buffer.from(text.slice(100, 101)), Buffer.from(text.slice(101))]
    const { hex, tally, batches } = await fastLines(chunks, 1000, 4)
    expect(batches).toEqual([4, 4, 4, 4, 4, 4])
    expect(hex).toEqual(lines.flatMap((_, i) => (i === 10 ? [] : [`1220${i.toString(16).padStart(2, '0').repeat(32)}`])))
    expect(tally.accepted).toBe(24)
    expect(tally.invalid).toEqual([{ line: 1011, input: 'not-a-cid', error: 'not a CID (To parse non base32, base36 or base58btc encoded CID multibase decoder must be provided)' }])
  })
})

describe('cidLineBatches on over-long lines', () => {
  it('refuses a line over MAX_CID_CHARS without decoding it, whole or split over reads, and keeps the lines around it', async () => {
    const good = CID.createV1(0x55, createDigest(0x12, new Uint8Array(32).fill(3))).toString()
    const long = `Qm${'1'.repeat(1024 * 1024)}`
    const text = `${good}\n${long}\n# ${'c'.repeat(10_000)}\n${good}\n`
    for (const chunks of [[Buffer.from(text)], Array.from({ length: Math.ceil(text.length / 65536) }, (_, i) => Buffer.from(text.slice(i * 65536, (i + 1) * 65536)))]) {
      const { hex, tally } = await fastLines(chunks, 0, 10)
      expect(hex).toHaveLength(2)
      expect(tally.accepted).toBe(2)
      expect(tally.invalid).toEqual([{ line: 2, input: long.slice(0, 200), error: `${long.length} characters long; a CID is at most ${MAX_CID_CHARS}, so it was not decoded` }])
    }
  })

  it('takes the longest sha2-256 CID of every base CID.parse reads', () => {
    const multihash = createDigest(0x12, new Uint8Array(32).fill(0xff))
    for (const base of [base32, base32upper, base36, base58btc]) {
      const text = CID.createV1(0x200000, multihash).toString(base)
      expect(text.length).toBeLessThan(MAX_CID_CHARS)
      if (base !== base32upper) expect(Buffer.from(multihashOf(text)).toString('hex')).toBe(`1220${'ff'.repeat(32)}`)
    }
  })
})

async function jsonPacks(text: string, batchSize = 2): Promise<{ hex: string[]; tally: LineTally }> {
  const tally = new LineTally()
  const hex: string[] = []
  async function * body(): AsyncGenerator<Buffer> {
    // cut into small reads, so values span them
    for (let i = 0; i < text.length; i += 7) yield Buffer.from(text.slice(i, i + 7))
  }
  for await (const packed of cidJsonPacks(body(), tally, batchSize)) for (const m of unpackMultihashes(packed)) hex.push(Buffer.from(m).toString('hex'))
  return { hex, tally }
}

describe('cidJsonPacks', () => {
  it('takes strings through multihashOf and names the position of anything else', async () => {
    const good = CID.createV1(0x55, createDigest(0x12, new Uint8Array(32).fill(1))).toString()
    const { hex, tally } = await jsonPacks(JSON.stringify({ note: { cids: 1 }, cids: [` ${good} `, 5, 'Qmnope', good, { a: [1] }, 'x'.repeat(600)] }))
    expect(hex).toEqual([`1220${'01'.repeat(32)}`, `1220${'01'.repeat(32)}`])
    expect(tally.accepted).toBe(2)
    expect(tally.invalid.map((i) => [i.line, i.input.slice(0, 9), i.error.slice(0, 9)])).toEqual([
      [2, '5', 'cids entr'], [3, 'Qmnope', 'not a CID'], [5, '{object}', 'cids entr'], [6, 'xxxxxxxxx', '600 chara']
    ])
  })

  it('answers a body of another shape, or broken JSON, with 400', async () => {
    for (const [text, message] of [
      ['{"cid": ["x"]}', 'JSON body must be {"cids": ["<cid>", ...]}'],
      ['["x"]', 'JSON body must be {"cids": ["<cid>", ...]}'],
      ['{"cids": "x"}', '"cids" is not an array'],
      ['{"cids": ["x"', 'request body is not valid JSON'],
      ['{"cids": [,]}', 'request body is not valid JSON']
    ]) {
      await expect(jsonPacks(text), text).rejects.toMatchObject({ status: 400, message: expect.stringContaining(message) })
    }
    expect((await jsonPacks('{"cids": []}')).tally.accepted).toBe(0)
  })
})
