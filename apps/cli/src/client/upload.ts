/**
 * The streaming upload behind `sweep provide`, `sweep stop` and `sweep reset` (and the demo):
 * input of any size → line-aligned chunks → up to 4 POSTs in flight → per-line errors in
 * file order → one summary. `reset` goes through a chunked upload session that is
 * committed at the end and aborted on any failure or Ctrl-C.
 */
import { createReadStream, fstatSync, type Stats } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { ApiClient } from './api-client.ts'
import type { InvalidLine, ProvideResponse, StopResponse, UploadChunkResponse } from './api-types.ts'
import { chunkLines, DEFAULT_CHUNK_BYTES, type LineChunk } from './line-chunker.ts'
import { orderedPipeline } from './ordered-pipeline.ts'
import type { TransferProgress } from './progress.ts'

export type SetOperation = 'provide' | 'stop' | 'reset'

/** Invalid lines printed before "… and N more". */
export const MAX_PRINTED_INVALID = 100

export interface UploadOptions {
  readonly operation: SetOperation
  readonly client: ApiClient
  /** A file path, or '-' for stdin. */
  readonly input: string
  readonly chunkBytes?: number
  readonly concurrency?: number
  /** provide: provide once, don't keep reproviding. */
  readonly once?: boolean
  /** reset: abort instead of committing when any line was invalid. */
  readonly strict?: boolean
  /** reset: commit even an empty set (the API refuses to empty the set otherwise). */
  readonly allowEmpty?: boolean
  readonly signal?: AbortSignal
  readonly progress?: TransferProgress
  /** Each invalid line, in file order, up to MAX_PRINTED_INVALID (invalidCount in the summary has them all). */
  readonly onInvalid?: (line: InvalidLine) => void
}

export interface UploadSummary {
  readonly operation: SetOperation
  readonly input: string
  readonly lines: number
  readonly bytes: number
  readonly chunks: number
  readonly accepted: number
  /** provide: keys that were new. */
  readonly added: number
  readonly duplicates: number
  /** stop: keys that were in the set. */
  readonly removed: number
  /** reset: keys in the new set after the commit (null when not committed). */
  readonly total: number | null
  readonly invalidCount: number
  /** The first MAX_PRINTED_INVALID invalid lines. */
  readonly invalid: readonly InvalidLine[]
  /** reset: whether the new set replaced the old one. */
  readonly committed: boolean
  readonly elapsedMs: number
}

/** `line 12: "xyz": <error>` */
export function formatInvalidLine(line: InvalidLine): string {
  return `line ${line.line}: ${JSON.stringify(line.input)}: ${line.error}`
}

type ChunkResponse = Partial<ProvideResponse & StopResponse & UploadChunkResponse>

export async function uploadCids(options: UploadOptions): Promise<UploadSummary> {
  const started = Date.now()
  const { stream, size } = await openInput(options.input)
  const tally = { lines: 0, bytes: 0, chunks: 0, accepted: 0, added: 0, duplicates: 0, removed: 0, invalidCount: 0 }
  const invalid: InvalidLine[] = []
  const progress = options.progress
  progress?.start(size)
  const onResult = (chunk: LineChunk, response: ChunkResponse): void => {
    tally.lines += chunk.lines
    tally.bytes += chunk.body.length
    tally.chunks++
    tally.accepted += response.accepted ?? 0
    tally.added += response.added ?? 0
    tally.duplicates += response.duplicates ?? 0
    tally.removed += response.removed ?? 0
    tally.invalidCount += response.invalidCount ?? response.invalid?.length ?? 0
    for (const line of response.invalid ?? []) {
      if (invalid.length >= MAX_PRINTED_INVALID) break
      invalid.push(line)
      options.onInvalid?.(line)
    }
    progress?.update(tally.bytes, tally.lines)
  }
  const run = (send: (chunk: LineChunk, signal: AbortSignal) => Promise<ChunkResponse>) => orderedPipeline(
    chunkLines(stream, options.chunkBytes ?? DEFAULT_CHUNK_BYTES), send,
    { concurrency: options.concurrency ?? 4, signal: options.signal, onResult }
  )
  const headers = (chunk: LineChunk) => ({ 'x-sweep-line-offset': String(chunk.firstLine - 1) })
  const client = options.client
  let total: number | null = null
  let committed = false
  try {
    if (options.operation === 'reset') {
      ({ total, committed } = await resetThroughUpload(options, run, headers, () => tally.invalidCount))
    } else {
      const path = options.operation === 'provide' ? `/v1/provide${options.once === true ? '?once=1' : ''}` : '/v1/stop'
      await run((chunk, signal) => client.post<ChunkResponse>(path, { body: chunk.body, headers: headers(chunk), signal }))
    }
  } catch (error) {
    throw new Error(failureMessage(options, tally.lines, error), { cause: error })
  } finally {
    progress?.stop()
    stream.destroy()
  }
  return { operation: options.operation, input: options.input, ...tally, total, invalid, committed, elapsedMs: Date.now() - started }
}

async function resetThroughUpload(
  options: UploadOptions,
  run: (send: (chunk: LineChunk, signal: AbortSignal) => Promise<ChunkResponse>) => Promise<void>,
  headers: (chunk: LineChunk) => Record<string, string>,
  invalidCount: () => number
): Promise<{ total: number | null; committed: boolean }> {
  const client = options.client
  const { upload } = await client.post<{ upload: string }>('/v1/reprovide-set/uploads', { signal: options.signal })
  const base = `/v1/reprovide-set/uploads/${encodeURIComponent(upload)}`
  let finished = false
  try {
    await run((chunk, signal) => client.post<ChunkResponse>(base, { body: chunk.body, headers: headers(chunk), signal }))
    if (options.strict === true && invalidCount() > 0) return { total: null, committed: false }
    options.signal?.throwIfAborted()
    const { total } = await client.post<{ total: number }>(`${base}/commit${options.allowEmpty === true ? '?allowEmpty=1' : ''}`)
    finished = true
    return { total, committed: true }
  } finally {
    // nothing changes before the commit; the DELETE just frees the staged keys
    if (!finished) await client.delete(base, { timeoutMs: 10_000 }).catch(() => {})
  }
}

function failureMessage(options: UploadOptions, linesDone: number, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error)
  if (options.operation === 'reset') return `${reason}; the upload was aborted and the reprovide set is unchanged`
  // provide and stop are idempotent, so running the same input again finishes the job
  return linesDone > 0 ? `${reason} (the first ${linesDone} lines were done; running the same input again is safe)` : reason
}

async function openInput(input: string): Promise<{ stream: NodeJS.ReadableStream & { destroy(): void }; size: number | undefined }> {
  if (input === '-') {
    const info = statOfStdin()
    return { stream: process.stdin, size: info?.isFile() === true ? info.size : undefined }
  }
  let size: number
  try {
    const info = await stat(input)
    if (info.isDirectory()) throw new Error(`${input} is a directory, not a file of CIDs`)
    size = info.isFile() ? info.size : Number.NaN
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new Error(`cannot read ${input}: no such file`, { cause: error })
    if (code === 'EACCES') throw new Error(`cannot read ${input}: permission denied`, { cause: error })
    throw error
  }
  // 1 MiB reads: fewer, larger pieces for the chunker to join
  return { stream: createReadStream(input, { highWaterMark: 1024 * 1024 }), size: Number.isNaN(size) ? undefined : size }
}

/** A redirected file (`< big.txt`) has a size, so the bar can show a total; a pipe doesn't. */
function statOfStdin(): Stats | undefined {
  try {
    return fstatSync(0)
  } catch {
    return undefined
  }
}
