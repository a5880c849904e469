import type { Command } from 'commander'
import { provideCommand, resetCommand, stopCommand } from './set-commands.ts'
import { statsCommand } from './stats.ts'
import { statusCommand } from './status.ts'
import { verifyCommand } from './verify.ts'

export { ApiClient, ApiError, ApiUnreachableError, DEFAULT_API_URL, normalizeApiUrl } from './api-client.ts'
export type { ApiClientOptions, RequestOptions } from './api-client.ts'
export type * from './api-types.ts'
export * from './format.ts'
export { chunkLines, DEFAULT_CHUNK_BYTES, LineChunker, LineTooLongError, type LineChunk } from './line-chunker.ts'
export { createTransferProgress, type TransferProgress } from './progress.ts'
export { formatInvalidLine, MAX_PRINTED_INVALID, uploadCids, type SetOperation, type UploadOptions, type UploadSummary } from './upload.ts'
export { describeSummary } from './set-commands.ts'
export { renderStats } from './stats.ts'
export { renderStatus } from './status.ts'
export { describeVerify, runVerify, type VerifyLookup, type VerifyOptions, type VerifyReport } from './verify.ts'

/** The subcommands that talk to a running cluster through its HTTP API. */
export function clientCommands(): Command[] {
  return [provideCommand(), stopCommand(), resetCommand(), statsCommand(), statusCommand(), verifyCommand()]
}
