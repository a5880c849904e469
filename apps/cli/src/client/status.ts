/** `sweep status CID`: where one CID stands in the schedule. */
import { Command } from 'commander'
import { ApiError } from './api-client.ts'
import type { CidStatus } from './api-types.ts'
import { formatTime } from './format.ts'
import { clientOf, printJson, withApiOptions, type ApiFlags } from './options.ts'

interface StatusFlags extends ApiFlags {
  readonly json?: boolean
}

export function statusCommand(): Command {
  return withApiOptions(new Command('status'))
    .description('show a CID\'s region, last provide, next slot and expected holders')
    .argument('<cid>', 'the CID to look up')
    .option('--json', 'print GET /v1/cids/{cid} as JSON')
    .action(async (cid: string, flags: StatusFlags) => {
      let status: CidStatus
      try {
        status = await clientOf(flags).get<CidStatus>(`/v1/cids/${encodeURIComponent(cid)}`)
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) status = { cid, stored: false }
        else if (error instanceof ApiError && error.status === 400) throw new Error(error.apiMessage, { cause: error })
        else throw error
      }
      if (flags.json === true) printJson(status)
      else process.stdout.write(renderStatus(status))
    })
}

export function renderStatus(s: CidStatus, now: number = Date.now()): string {
  if (!s.stored) return `${s.cid} is not in the reprovide set (add it with \`sweep provide\`)\n`
  const rows: Array<[string, string]> = [
    ['CID', s.cid],
    ['Kept', s.once === true ? 'provided once, not reprovided' : 'reprovided every interval'],
    ['Kad key', s.kadKey ?? '-'],
    ['Region', s.region === null || s.region === undefined ? '-' : s.region === '' ? '(root)' : `${s.region} (${s.region.length} bits)`],
    ['Last provide', s.lastProvide === null || s.lastProvide === undefined ? 'never' : formatTime(s.lastProvide, now)],
    ['Outcome', s.outcome ?? '-'],
    ['Next slot', s.nextSlot === null || s.nextSlot === undefined ? '-' : formatTime(s.nextSlot, now)],
    ['Expected holders', s.expectedHolders === undefined ? '-' : String(s.expectedHolders)]
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}\n`).join('')
}
