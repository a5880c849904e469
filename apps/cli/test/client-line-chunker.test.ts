import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Readable } from 'node:stream'
import { chunkLines, LineChunker, LineTooLongError, type LineChunk } from '../src/client/line-chunker.ts'

/** The input's lines with their terminators, a final line without one included: the model the chunks must match. */
const linesOf = (text: string): string[] => text.match(/[^\n]*\n|[^\n]+$/g) ?? []

function chunkAll(pieces: readonly string[], chunkBytes: number): LineChunk[] {
  const chunker = new LineChunker(chunkBytes)
  return [...pieces.flatMap((p) => chunker.push(p)), ...chunker.end()]
}

/** Cuts text into pieces at the given (sorted, deduplicated) positions, as reads of a stream would. */
function cut(text: string, at: readonly number[]): string[] {
  const bounds = [...new Set(at.map((a) => a % (text.length + 1)))].sort((a, b) => a - b)
  const out: string[] = []
  let from = 0
  for (const b of bounds) {
    out.push(text.slice(from, b))
    from = b
  }
  out.push(text.slice(from))
  return out
}

// ASCII only, so string length == byte length and the model stays simple
const lineText = fc.stringMatching(/^[a-z0-9 #\r]{0,12}$/)
const inputText = fc.tuple(fc.array(lineText, { maxLength: 40 }), fc.boolean(), fc.boolean()).map(([lines, crlf, finalNewline]) => {
  const sep = crlf ? '\r\n' : '\n'
  const body = lines.join(sep)
  return finalNewline && lines.length > 0 ? body + sep : body
})

describe('LineChunker', () => {
  it('keeps every byte, in order, in bodies no larger than the chunk size, cut only after a newline', () => {
    fc.assert(fc.property(inputText, fc.integer({ min: 14, max: 64 }), fc.array(fc.nat(), { maxLength: 8 }), (text, chunkBytes, at) => {
      const chunks = chunkAll(cut(text, at), chunkBytes)
      expect(Buffer.concat(chunks.map((c) => c.body)).toString()).toBe(text)
      for (const [i, chunk] of chunks.entries()) {
        expect(chunk.index).toBe(i)
        expect(chunk.body.length).toBeGreaterThan(0)
        expect(chunk.body.length).toBeLessThanOrEqual(chunkBytes)
        if (i < chunks.length - 1) expect(chunk.body.at(-1)).toBe(0x0a)
      }
    }))
  })

  it('numbers lines as the file does, whatever the read boundaries', () => {
    fc.assert(fc.property(inputText, fc.integer({ min: 14, max: 64 }), fc.array(fc.nat(), { maxLength: 8 }), (text, chunkBytes, at) => {
      const expected = linesOf(text)
      const chunks = chunkAll(cut(text, at), chunkBytes)
      let next = 1
      for (const chunk of chunks) {
        expect(chunk.firstLine).toBe(next)
        const lines = linesOf(chunk.body.toString())
        expect(lines).toHaveLength(chunk.lines)
        // line j of the chunk is file line firstLine + j
        lines.forEach((line, j) => expect(line).toBe(expected[chunk.firstLine - 1 + j]))
        next += chunk.lines
      }
      expect(next - 1).toBe(expected.length)
      // the read boundaries change nothing: one big push gives the same chunks
      expect(chunkAll([text], chunkBytes).map((c) => c.body.toString())).toEqual(chunks.map((c) => c.body.toString()))
    }))
  })

  it('packs chunks full: a chunk ends early only when the next line would not fit', () => {
    fc.assert(fc.property(inputText, fc.integer({ min: 14, max: 64 }), (text, chunkBytes) => {
      const chunks = chunkAll([text], chunkBytes)
      for (let i = 0; i < chunks.length - 1; i++) {
        const nextLine = linesOf((chunks[i + 1] as LineChunk).body.toString())[0] as string
        expect((chunks[i] as LineChunk).body.length + nextLine.length).toBeGreaterThan(chunkBytes)
      }
    }))
  })

  it('refuses exactly the inputs with a line longer than the chunk, naming the first such line', () => {
    fc.assert(fc.property(inputText, fc.integer({ min: 1, max: 10 }), fc.array(fc.nat(), { maxLength: 6 }), (text, chunkBytes, at) => {
      const overlong = linesOf(text).findIndex((line) => Buffer.byteLength(line) > chunkBytes)
      if (overlong === -1) {
        expect(Buffer.concat(chunkAll(cut(text, at), chunkBytes).map((c) => c.body)).toString()).toBe(text)
        return
      }
      let error: unknown
      try {
        chunkAll(cut(text, at), chunkBytes)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(LineTooLongError)
      expect((error as LineTooLongError).line).toBe(overlong + 1)
      expect((error as Error).message).toContain(`line ${overlong + 1} `)
    }))
  })

  it('keeps CRLF pairs together and counts a final line without a newline', () => {
    const text = 'aaaa\r\nbbbb\r\ncccc\r\ndd'
    const chunks = chunkAll([text], 12)
    expect(chunks.map((c) => c.body.toString())).toEqual(['aaaa\r\nbbbb\r\n', 'cccc\r\ndd'])
    expect(chunks.map((c) => [c.firstLine, c.lines])).toEqual([[1, 2], [3, 2]])
  })

  it('accepts a final line of exactly the chunk size, but not one that needs a newline more', () => {
    expect(chunkAll(['ab\n', 'cdef'], 4).map((c) => c.body.toString())).toEqual(['ab\n', 'cdef'])
    expect(() => chunkAll(['ab\n', 'cdef\n'], 4)).toThrow(/line 2 is longer than the chunk size of 4 bytes/)
  })

  it('gives nothing for empty input and counts blank lines', () => {
    expect(chunkAll([], 8)).toEqual([])
    expect(chunkAll(['', ''], 8)).toEqual([])
    expect(chunkAll(['\n\n\n'], 8).map((c) => c.lines)).toEqual([3])
  })

  it('handles multi-byte text by bytes, not characters', () => {
    // "é" is two bytes: three of them with a newline need 7 bytes
    const chunks = chunkAll(['ééé\nx\n'], 7)
    expect(chunks.map((c) => c.body.toString())).toEqual(['ééé\n', 'x\n'])
    expect(() => chunkAll(['éééé\n'], 7)).toThrow(LineTooLongError)
  })
})

describe('chunkLines', () => {
  it('streams 200k lines in bounded chunks with the right line numbers', async () => {
    const lineOf = (i: number) => `bafkreiline${String(i).padStart(8, '0')}\n`
    async function* source() {
      // reads of an odd size, so lines straddle read boundaries
      let pending = ''
      for (let i = 1; i <= 200_000; i++) {
        pending += lineOf(i)
        if (pending.length >= 65_531) {
          yield Buffer.from(pending.slice(0, 65_531))
          pending = pending.slice(65_531)
        }
      }
      yield Buffer.from(pending)
    }
    let lines = 0
    let chunks = 0
    for await (const chunk of chunkLines(source(), 256 * 1024)) {
      expect(chunk.body.length).toBeLessThanOrEqual(256 * 1024)
      const text = chunk.body.toString()
      expect(text.slice(0, lineOf(chunk.firstLine).length)).toBe(lineOf(chunk.firstLine))
      expect(text.endsWith(lineOf(chunk.firstLine + chunk.lines - 1))).toBe(true)
      lines += chunk.lines
      chunks++
    }
    expect(lines).toBe(200_000)
    // 20-byte lines, as many as fit in 256 KiB per chunk
    expect(chunks).toBe(Math.ceil(200_000 / Math.floor((256 * 1024) / 20)))
  })

  it('reads a Node stream and surfaces an overlong line as an error', async () => {
    const chunks: LineChunk[] = []
    await expect((async () => {
      for await (const chunk of chunkLines(Readable.from([Buffer.from('ok\n'), Buffer.from('x'.repeat(100))]), 16)) chunks.push(chunk)
    })()).rejects.toThrow('line 2 is longer than the chunk size of 16 bytes')
  })
})
