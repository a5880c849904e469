/**
 * go's SweepingProvider providing one new CID at a time (bench/gosweep
 * --serial), timed the same way as ours: from handing it the CID to the
 * testnet's servers holding the record.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateIdentity } from '@sweep/dht'
import { goProgram, type Testnet } from '@sweep/testnet'
import type { ProvideKey } from '@sweep/sweep'
import { cidOf } from '../../test/lib/cluster.ts'
import { watchHolders, type HolderTimes } from '../../test/lib/first-provide.ts'
import { ANNOUNCE } from './sweep-run.ts'

const GOSWEEP_SOURCE = fileURLToPath(new URL('../gosweep/', import.meta.url))

/** One line of gosweep --serial (serial.go's `provided`). */
interface GoLine {
  cid: string; receivedAt: number; firstSentAt?: number; lastSentAt?: number; doneAt: number
  records: number; failedRecords: number; lookups: number; lookupMs: number; error?: string
}

export interface GoSample extends HolderTimes {
  cid: string
  /** Read on its stdin → its first ADD_PROVIDER written. */
  firstSendMs: number | null
  lookupMs: number
  lookups: number
  error?: string
}

export async function goOneByOne(o: {
  testnet: Testnet; dir: string; keys: readonly ProvideKey[]; name: string; unreachable?: ReadonlySet<string>
  log: (m: string) => void; onSample?: (s: GoSample, i: number) => void
}): Promise<GoSample[]> {
  const built = await goProgram(GOSWEEP_SOURCE, 'gosweep', o.log)
  if (built.path == null) throw new Error(`go's provider can't run: ${built.reason}`)
  const identity = join(o.dir, `${o.name}.key`)
  await generateIdentity(identity)
  const child = spawn(built.path, [
    '--serial', '--bootstrap', o.testnet.bootstrap.join(','), '--identity', identity, '--announce', ANNOUNCE, '--timeout', '30m'
  ], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await lines.next()
    if (line.done) throw new Error(`gosweep --serial ended early (exit ${child.exitCode})`)
    return JSON.parse(line.value) as Record<string, unknown>
  }
  try {
    const ready = await next()
    if (ready.ready !== true) throw new Error(`gosweep --serial did not get ready: ${JSON.stringify(ready)}`)
    const provider = String(ready.peerId)
    const samples: GoSample[] = []
    for (const [i, key] of o.keys.entries()) {
      const t0 = performance.now()
      child.stdin.write(`${cidOf(key.multihash)}\n`)
      const [times, raw] = await Promise.all([watchHolders(o.testnet, key, provider, t0, o.unreachable ?? new Set()), next()])
      const line = raw as unknown as GoLine
      const sample: GoSample = {
        cid: line.cid, ...times,
        firstSendMs: line.firstSentAt === undefined ? null : line.firstSentAt - line.receivedAt,
        lookupMs: line.lookupMs, lookups: line.lookups, ...(line.error === undefined ? {} : { error: line.error })
      }
      samples.push(sample)
      o.onSample?.(sample, i)
    }
    return samples
  } finally {
    child.stdin.end()
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}
