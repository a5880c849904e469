import { StringDecoder } from 'node:string_decoder'
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { sha256 } from 'multiformats/hashes/sha2'

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

/**
 * The multihash a provider record is about. Only sha2-256: js kad-dht servers decode the
 * record key as a CID and abort the whole stream on anything else, which would take the
 * region's other records down with it.
 */
export function multihashOf(text: string): Uint8Array {
  let cid: CID
  try {
    cid = text.startsWith('k') ? CID.parse(text, base36) : CID.parse(text)
  } catch (error) {
    throw new Error(`not a CID (${error instanceof Error ? error.message : String(error)})`, { cause: error })
  }
  if (cid.multihash.code !== sha256.code || cid.multihash.size !== 32) {
    throw new Error(`multihash code 0x${cid.multihash.code.toString(16)} is not sha2-256; only sha2-256 CIDs can be provided`)
  }
  return cid.multihash.bytes
}

/** Streams a text/plain body as batches of multihashes; line numbers start after lineOffset. */
export async function * cidLineBatches(
  body: AsyncIterable<Buffer | string>, tally: LineTally, lineOffset: number, batchSize: number
): AsyncGenerator<Uint8Array[]> {
  const decoder = new StringDecoder('utf8')
  let rest = ''
  let line = lineOffset
  let batch: Uint8Array[] = []
  const take = (raw: string): void => {
    line++
    const text = raw.endsWith('\r') ? raw.slice(0, -1).trim() : raw.trim()
    if (text === '' || text.startsWith('#')) return
    try {
      batch.push(multihashOf(text))
      tally.accepted++
    } catch (error) {
      tally.reject(line, text, (error as Error).message)
    }
  }
  for await (const chunk of body) {
    const lines = (rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk))).split('\n')
    rest = lines.pop() ?? ''
    for (const raw of lines) take(raw)
    if (batch.length >= batchSize) {
      yield batch
      batch = []
    }
  }
  rest += decoder.end()
  if (rest !== '') take(rest)
  if (batch.length > 0) yield batch
}

/** The same for a JSON body `{"cids": [...]}`; "line" is the 1-based array position. */
export function * cidArrayBatches(cids: readonly unknown[], tally: LineTally, batchSize: number): Generator<Uint8Array[]> {
  const batch: Uint8Array[] = []
  cids.forEach((value, index) => {
    if (typeof value !== 'string') {
      tally.reject(index + 1, JSON.stringify(value) ?? String(value), 'cids entries must be strings')
      return
    }
    try {
      batch.push(multihashOf(value.trim()))
      tally.accepted++
    } catch (error) {
      tally.reject(index + 1, value, (error as Error).message)
    }
  })
  for (let i = 0; i < batch.length; i += batchSize) yield batch.slice(i, i + batchSize)
}
