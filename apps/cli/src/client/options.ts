/** Flags every client subcommand shares, and the exit codes they use. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { ApiClient, DEFAULT_API_URL } from './api-client.ts'
import { parseDuration } from './format.ts'

export const EXIT_INVALID_LINES = 3
export const EXIT_VERIFY_BELOW_MIN = 4

export interface ApiFlags {
  readonly api: string
  readonly token?: string
}

/** --api URL (SWEEP_API_URL) and --token T (SWEEP_API_TOKEN). */
export function withApiOptions(command: Command): Command {
  return command
    .addOption(new Option('--api <url>', 'sweep HTTP API base URL').env('SWEEP_API_URL').default(DEFAULT_API_URL))
    .addOption(new Option('--token <token>', 'bearer token, when the coordinator runs with one').env('SWEEP_API_TOKEN'))
}

export function clientOf(flags: ApiFlags): ApiClient {
  return new ApiClient({ url: flags.api, token: flags.token })
}

export function positiveIntArg(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

/** Variadic flags also take comma- or space-separated lists, like the worker's. */
export function listArg(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(/[\s,]+/).filter((s) => s !== '')]
}

export function durationArg(value: string): number {
  try {
    return parseDuration(value)
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}

export function ratioArg(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number between 0 and 1')
  return n
}

/**
 * Aborts the signal on Ctrl-C / SIGTERM while `run` is going, instead of Node's default
 * exit, so a command can clean up (abort an upload, stop a libp2p host) first.
 */
export async function interruptible<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => controller.abort(new Error(`interrupted (${signal})`))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await run(controller.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** One JSON document on stdout, for --json. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
