/** `sweep provide`, `sweep stop` and `sweep reset`: stream a file of CIDs to the API. */
import { Command, Option } from 'commander'
import { formatDuration, formatInt, formatCount } from './format.ts'
import { DEFAULT_CHUNK_BYTES } from './line-chunker.ts'
import { clientOf, EXIT_INVALID_LINES, interruptible, positiveIntArg, printJson, withApiOptions, type ApiFlags } from './options.ts'
import { createTransferProgress } from './progress.ts'
import { formatInvalidLine, uploadCids, type SetOperation, type UploadSummary } from './upload.ts'

interface SetFlags extends ApiFlags {
  readonly chunkBytes: number
  readonly concurrency: number
  readonly json?: boolean
  readonly once?: boolean
  readonly strict?: boolean
  readonly allowEmpty?: boolean
}

const DESCRIPTIONS: Readonly<Record<SetOperation, string>> = {
  provide: 'add CIDs (one per line) to the reprovide set and provide the new ones now',
  stop: 'stop reproviding these CIDs (one per line)',
  reset: 'replace the whole reprovide set with these CIDs (one per line), atomically'
}

export function provideCommand(): Command {
  return setCommand('provide').option('--once', 'provide these CIDs once, without keeping them in the reprovide set', false)
}

export function stopCommand(): Command {
  return setCommand('stop')
}

export function resetCommand(): Command {
  return setCommand('reset')
    .option('--strict', 'leave the set unchanged if any line is invalid', false)
    .option('--allow-empty', 'commit even if no line is a valid CID, which empties the reprovide set (refused otherwise)', false)
}

function setCommand(operation: SetOperation): Command {
  return withApiOptions(new Command(operation))
    .description(DESCRIPTIONS[operation])
    .argument('[file]', 'file of CIDs, one per line (blank lines and # comments skipped); - reads stdin', '-')
    .addOption(new Option('--chunk-bytes <n>', 'bytes per request (cut at line boundaries)').argParser(positiveIntArg).default(DEFAULT_CHUNK_BYTES))
    .addOption(new Option('--concurrency <n>', 'requests in flight').argParser(positiveIntArg).default(4))
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText('after', '\nExit status: 0 all lines valid, 3 some lines invalid (the valid ones were kept), 1 failure.')
    .action(async (file: string, flags: SetFlags) => {
      const summary = await runSetCommand(operation, file, flags)
      if (summary.invalidCount > 0) process.exitCode = EXIT_INVALID_LINES
    })
}

async function runSetCommand(operation: SetOperation, file: string, flags: SetFlags): Promise<UploadSummary> {
  const progress = createTransferProgress({ label: operation })
  if (file === '-' && process.stdin.isTTY === true) console.error(`${operation}: reading CIDs from the terminal, one per line; Ctrl-D ends the input`)
  const summary = await interruptible((signal) => uploadCids({
    operation,
    client: clientOf(flags),
    input: file,
    chunkBytes: flags.chunkBytes,
    concurrency: flags.concurrency,
    once: flags.once,
    strict: flags.strict,
    allowEmpty: flags.allowEmpty,
    signal,
    progress,
    onInvalid: (line) => progress.log(formatInvalidLine(line))
  }))
  if (summary.invalidCount > summary.invalid.length) console.error(`… and ${formatInt(summary.invalidCount - summary.invalid.length)} more invalid lines`)
  if (flags.json === true) printJson(summary)
  else process.stdout.write(describeSummary(summary))
  return summary
}

/** The human summary: what was sent, what the API did with it, how long it took. */
export function describeSummary(s: UploadSummary): string {
  const seconds = s.elapsedMs / 1000
  const rate = seconds > 0 ? s.accepted / seconds : s.accepted
  const source = s.input === '-' ? 'stdin' : s.input
  const rows: Array<[string, string]> = [['lines read', formatInt(s.lines)], ['accepted', formatInt(s.accepted)]]
  if (s.operation === 'provide') rows.push(['added (new)', formatInt(s.added)], ['duplicates', formatInt(s.duplicates)])
  if (s.operation === 'stop') rows.push(['removed', formatInt(s.removed)])
  rows.push(['invalid', formatInt(s.invalidCount)])
  if (s.operation === 'reset') rows.push(['new set', s.committed ? `${formatInt(s.total)} keys (committed)` : 'not committed: the reprovide set is unchanged'])
  rows.push(['elapsed', formatDuration(s.elapsedMs)], ['rate', `${formatCount(rate)} CIDs/s`])
  const width = Math.max(...rows.map(([label]) => label.length))
  const head = s.operation === 'reset' && !s.committed && s.invalidCount > 0
    ? `${s.operation} ${source}: aborted (--strict) because ${s.invalidCount === 1 ? '1 line was' : `${formatInt(s.invalidCount)} lines were`} invalid\n`
    : `${s.operation} ${source}: done\n`
  return head + rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}\n`).join('')
}
