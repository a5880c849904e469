/**
 * Cuts a byte stream of CIDs (one per line) into request bodies at line boundaries,
 * so an input of any size is uploaded in bounded memory and the API can report file
 * line numbers (each chunk carries the number of its first line).
 */

export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024

const NEWLINE = 0x0a

export interface LineChunk {
  /** Position of this chunk in the input, from 0. */
  readonly index: number
  /** File line number (1-based) of the chunk's first line; the API header X-Sweep-Line-Offset is firstLine - 1. */
  readonly firstLine: number
  /** Lines in the body, a final line without a newline included. */
  readonly lines: number
  /** Whole lines, terminators (LF or CRLF) kept as they were. */
  readonly body: Buffer
}

/** A line that can't fit in any chunk; it names the line so the user can find it. */
export class LineTooLongError extends Error {
  readonly line: number
  readonly chunkBytes: number
  constructor(line: number, chunkBytes: number) {
    super(`line ${line} is longer than the chunk size of ${chunkBytes} bytes (is this a file of CIDs, one per line?)`)
    this.name = 'LineTooLongError'
    this.line = line
    this.chunkBytes = chunkBytes
  }
}

/**
 * Push-based splitter: feed it buffers as they arrive, take the finished chunks.
 * A chunk's body never exceeds chunkBytes, and only a line (with its terminator)
 * longer than chunkBytes is refused. Input pieces are kept as views and joined once
 * per chunk, so the cost is one copy per byte whatever the read size.
 */
export class LineChunker {
  readonly chunkBytes: number
  private pieces: Buffer[] = []
  private size = 0
  /** Bytes of the pending chunk that end with a newline: everything before the partial last line. */
  private completeBytes = 0
  private completeLines = 0
  private linesEmitted = 0
  private chunksEmitted = 0
  private ended = false

  constructor(chunkBytes: number = DEFAULT_CHUNK_BYTES) {
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new Error(`chunk size must be a positive integer, got ${chunkBytes}`)
    this.chunkBytes = chunkBytes
  }

  /** Adds input; returns the chunks that became full. Throws LineTooLongError for an overlong line. */
  push(data: Uint8Array | string): LineChunk[] {
    if (this.ended) throw new Error('LineChunker: push after end')
    const buffer = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    const out: LineChunk[] = []
    let pos = 0
    while (pos < buffer.length) {
      const room = this.chunkBytes - this.size
      if (room === 0) {
        if (this.completeBytes === 0) throw new LineTooLongError(this.linesEmitted + 1, this.chunkBytes)
        out.push(this.emitComplete())
        continue
      }
      const segment = buffer.subarray(pos, pos + Math.min(room, buffer.length - pos))
      const lastNewline = segment.lastIndexOf(NEWLINE)
      if (lastNewline >= 0) {
        this.completeBytes = this.size + lastNewline + 1
        this.completeLines += countNewlines(segment, lastNewline)
      }
      this.pieces.push(segment)
      this.size += segment.length
      pos += segment.length
    }
    return out
  }

  /** Flushes the rest, a final line without a newline included. */
  end(): LineChunk[] {
    if (this.ended) return []
    this.ended = true
    if (this.size === 0) return []
    const body = this.pieces.length === 1 ? this.pieces[0] as Buffer : Buffer.concat(this.pieces, this.size)
    const lines = this.completeLines + (this.size > this.completeBytes ? 1 : 0)
    const chunk = this.makeChunk(body, lines)
    this.pieces = []
    this.size = this.completeBytes = this.completeLines = 0
    return [chunk]
  }

  /** Lines in the chunks handed out so far. */
  get lines(): number {
    return this.linesEmitted
  }

  private emitComplete(): LineChunk {
    const joined = Buffer.concat(this.pieces, this.size)
    // the partial last line is copied out so the next chunk doesn't pin this one's memory
    const tail = Buffer.from(joined.subarray(this.completeBytes))
    const chunk = this.makeChunk(joined.subarray(0, this.completeBytes), this.completeLines)
    this.pieces = tail.length > 0 ? [tail] : []
    this.size = tail.length
    this.completeBytes = 0
    this.completeLines = 0
    return chunk
  }

  private makeChunk(body: Buffer, lines: number): LineChunk {
    const chunk = { index: this.chunksEmitted, firstLine: this.linesEmitted + 1, lines, body }
    this.chunksEmitted++
    this.linesEmitted += lines
    return chunk
  }
}

/** Newlines in buffer[0..last], where buffer[last] is known to be one. */
function countNewlines(buffer: Buffer, last: number): number {
  let count = 0
  let at = buffer.indexOf(NEWLINE)
  while (at !== -1 && at <= last) {
    count++
    at = buffer.indexOf(NEWLINE, at + 1)
  }
  return count
}

/** Chunks of a byte stream (a file or stdin read stream). */
export async function* chunkLines(source: AsyncIterable<Uint8Array | string>, chunkBytes: number = DEFAULT_CHUNK_BYTES): AsyncGenerator<LineChunk> {
  const chunker = new LineChunker(chunkBytes)
  for await (const data of source) yield* chunker.push(data)
  yield* chunker.end()
}
