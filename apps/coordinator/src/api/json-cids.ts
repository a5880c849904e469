import { JSONParser, TokenType, type ParsedElementInfo, type ParsedTokenInfo } from '@streamparser/json'
import type { PackedMultihashes } from '@sweep/store'
import { CidPacker, type LineTally } from './cid-lines.ts'
import { HttpError } from './http.ts'
import { TimeSlicer } from './time-slice.ts'

/** Bytes handed to the JSON parser at once: about a millisecond of its work, 10 at worst (32 slow 256-byte entries). */
const JSON_SLICE = 8192

const SHAPE = 'JSON body must be {"cids": ["<cid>", ...]}'

/**
 * The body's shape from its tokens: an object whose "cids" is an array. The parser, told to
 * hand over only the entries of cids, would otherwise take `{"cid": [...]}` for an empty list.
 */
class ShapeCheck {
  found = false
  private depth = 0
  private keyNext = false
  private cidsNext = false

  onToken({ token, value }: ParsedTokenInfo): void {
    if (this.depth === 0 && token !== TokenType.LEFT_BRACE) throw new HttpError(400, SHAPE)
    if (this.depth === 1) {
      if (this.keyNext && token === TokenType.STRING) {
        this.cidsNext = value === 'cids'
        this.keyNext = false
      } else if (token === TokenType.COMMA) {
        this.keyNext = true
      } else if (token !== TokenType.COLON && this.cidsNext) {
        if (token !== TokenType.LEFT_BRACKET) throw new HttpError(400, `"cids" is not an array; ${SHAPE}`)
        this.cidsNext = false
        this.found = true
      }
    }
    if (token === TokenType.LEFT_BRACE || token === TokenType.LEFT_BRACKET) {
      this.depth++
      if (this.depth === 1) this.keyNext = true
    } else if (token === TokenType.RIGHT_BRACE || token === TokenType.RIGHT_BRACKET) {
      this.depth--
    }
  }
}

/**
 * Streams a JSON body `{"cids": [...]}` as batches of at most batchSize multihashes; "line"
 * is the 1-based array position. The body is parsed as it arrives, never held whole (a
 * 64 MiB body parsed at once took 764 MiB), and the event loop runs every few ms.
 */
export async function * cidJsonPacks(body: AsyncIterable<Buffer>, tally: LineTally, batchSize: number): AsyncGenerator<PackedMultihashes> {
  const parser = new JSONParser({ paths: ['$.cids.*'], keepStack: false })
  const shape = new ShapeCheck()
  const entries: Array<{ position: number; value: unknown }> = []
  parser.onToken = (token) => shape.onToken(token)
  parser.onValue = ({ value, key }: ParsedElementInfo) => { entries.push({ position: Number(key) + 1, value }) }
  const write = (bytes: Buffer | undefined): void => {
    try {
      if (bytes === undefined) parser.end()
      else parser.write(bytes)
    } catch (error) {
      if (error instanceof HttpError) throw error
      throw new HttpError(400, `request body is not valid JSON: ${(error as Error).message}`)
    }
  }
  const packer = new CidPacker(tally, 0, batchSize)
  const slicer = new TimeSlicer()
  for await (const chunk of body) {
    for (let at = 0; at < chunk.length; at += JSON_SLICE) {
      write(chunk.subarray(at, at + JSON_SLICE))
      for (const { position, value } of entries) {
        packer.takeEntry(position, value)
        if (packer.count >= batchSize) yield packer.takeBatch()
      }
      entries.length = 0
      await slicer.pause()
    }
  }
  if (!parser.isEnded) write(undefined)
  if (!shape.found) throw new HttpError(400, SHAPE)
  if (packer.count > 0) yield packer.takeBatch()
}
