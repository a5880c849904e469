/** `sweep stats`: the cluster at a glance, laid out like `ipfs provide stat`. */
import { Command, Option } from 'commander'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Stats, WorkerInfo } from './api-types.ts'
import { formatCount, formatDuration, formatInt, formatPercent, formatRate, formatRelative, formatTime } from './format.ts'
import { clientOf, interruptible, positiveIntArg, printJson, withApiOptions, type ApiFlags } from './options.ts'

interface StatsFlags extends ApiFlags {
  readonly json?: boolean
  readonly watch?: number
}

export function statsCommand(): Command {
  return withApiOptions(new Command('stats'))
    .description('show keys, schedule, queues, workers, provides and network, like `ipfs provide stat`')
    .option('--json', 'print GET /v1/stats as JSON (one document per refresh with --watch)')
    .addOption(new Option('--watch <seconds>', 'refresh every N seconds until Ctrl-C').argParser(positiveIntArg))
    .action(async (flags: StatsFlags) => {
      const client = clientOf(flags)
      const show = (stats: Stats) => {
        if (flags.json === true) process.stdout.write(`${JSON.stringify(stats)}\n`)
        else process.stdout.write(renderStats(stats))
      }
      if (flags.watch === undefined) {
        const stats = await client.get<Stats>('/v1/stats')
        if (flags.json === true) printJson(stats)
        else show(stats)
        return
      }
      const period = flags.watch * 1000
      const clear = process.stdout.isTTY === true && flags.json !== true
      await interruptible(async (signal) => {
        while (!signal.aborted) {
          const stats = await client.get<Stats>('/v1/stats', { signal }).catch((error: unknown) => {
            if (signal.aborted) return undefined
            throw error
          })
          if (stats === undefined) return
          if (clear) process.stdout.write('\x1b[H\x1b[2J')
          show(stats)
          if (clear) process.stdout.write(`\nevery ${flags.watch}s from ${client.baseUrl}; Ctrl-C quits\n`)
          else if (flags.json !== true) process.stdout.write('\n')
          await sleep(period, undefined, { signal }).catch(() => {})
        }
      })
    })
}

type Row = readonly [string, string]

function section(title: string, rows: readonly Row[]): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length))
  return `${title}:\n${rows.map(([label, value]) => `  ${`${label}:`.padEnd(width + 2)}${value}\n`).join('')}`
}

function bucketsLine(keys: Stats['keys']): string {
  const line = `2^${keys.bucketBits} (${formatCount(keys.total / 2 ** (keys.bucketBits ?? 0))} keys each)`
  const r = keys.rebucketing
  if (r === null || r === undefined) return line
  return `${line}, re-bucketing to 2^${r.toBits}: ${r.phase === 'copying' ? `${formatPercent(r.bucketsCopied / r.buckets)} copied` : 'switched, draining'}`
}

/** Human layout of GET /v1/stats; tolerant of missing sections (older or starting coordinators). */
export function renderStats(stats: Partial<Stats>, now: number = Date.now()): string {
  const keys = stats.keys
  const cycle = stats.cycle
  const queues = stats.queues
  const provides = stats.provides
  const network = stats.network
  const workers = stats.workers ?? []
  const parts: string[] = []
  parts.push(section('Keys', [
    ['CIDs', keys === undefined ? '-' : `${formatCount(keys.total)} (${formatInt(keys.total)})`],
    ['Regions', formatInt(keys?.regions)],
    ['Avg region size', keys === undefined ? '-' : `${formatCount(keys.avgRegionSize)} keys`],
    ['Avg prefix length', keys === undefined ? '-' : keys.avgPrefixLength.toFixed(1)],
    ...(keys?.bucketBits === undefined ? [] : [['Keystore buckets', bucketsLine(keys)] as [string, string]])
  ]))
  if (cycle !== undefined) {
    const regionsShare = cycle.regionsTotal > 0 ? ` (${formatPercent(cycle.regionsDone / cycle.regionsTotal)})` : ''
    const offsetShare = cycle.intervalMs !== null && cycle.intervalMs > 0 ? ` (${formatPercent(cycle.offsetMs / cycle.intervalMs)} of the interval)` : ''
    parts.push(section('Schedule / Cycle', [
      ['Cycle', cycle.start === null ? 'not started yet' : `#${cycle.number}, started ${formatTime(cycle.start, now)}`],
      ['Interval', formatDuration(cycle.intervalMs)],
      ['Offset', `${formatDuration(cycle.offsetMs)}${offsetShare}`],
      ['Regions done', `${formatInt(cycle.regionsDone)} / ${formatInt(cycle.regionsTotal)}${regionsShare}`],
      ['Keys provided', formatCount(cycle.keysProvided)],
      ['Next region', cycle.nextRegion === null ? '-' : `${cycle.nextRegion === '' ? '(root)' : cycle.nextRegion} ${formatRelative(cycle.nextAt, now)}`]
    ]))
  }
  if (queues !== undefined) {
    parts.push(section('Queues', [
      ['Waiting', formatInt(queues.waiting)],
      ['Prioritized', formatInt(queues.prioritized)],
      ['Active', formatInt(queues.active)],
      ['Delayed', formatInt(queues.delayed)],
      ['Failed', formatInt(queues.failed)]
    ]))
  }
  parts.push(renderWorkers(workers, now))
  if (provides !== undefined) {
    parts.push(section('Provides', [
      ['Keys provided', `${formatCount(provides.keysProvided)} (${formatRate(provides.keysPerMinute, 'keys/min')} over the last ${formatDuration(provides.rateWindowMs ?? 600_000)})`],
      ['Records sent', `${formatCount(provides.recordsSent)}${provides.recordsFailed > 0 ? ` (${formatCount(provides.recordsFailed)} failed)` : ''}` +
        `${(provides.recordsReplaced ?? 0) > 0 ? `, ${formatCount(provides.recordsReplaced ?? 0)} re-placed around failed peers` : ''}`],
      ['Lookups', formatCount(provides.lookups)],
      ['Regions', `${formatInt(provides.regionsOk)} ok, ${formatInt(provides.regionsFailed)} failed, ${formatInt(provides.regionsEmpty)} empty` +
        `${(provides.regionsReswept ?? 0) > 0 ? `, ${formatInt(provides.regionsReswept ?? 0)} re-swept` : ''}`],
      ['Last region', provides.lastRegionAt === null ? 'never' : formatRelative(provides.lastRegionAt, now)]
    ]))
  }
  if (network !== undefined) {
    parts.push(section('Network', [
      ['Connectivity', network.connectivity],
      ['Size estimate', network.size > 0 ? `~${network.size >= 1000 ? formatCount(network.size) : formatInt(network.size)} servers` : '-'],
      ['Prefix length', String(network.prefixLength)],
      ['Reachable peers', `${formatInt(network.reachablePeers)} (${formatInt(network.unreachablePeers)} unreachable)`],
      ['Measured', network.measuredAt === null ? 'not yet' : formatRelative(network.measuredAt, now)]
    ]))
  }
  const leader = stats.leader
  parts.push(section('Leader', [['Coordinator', leader === null || leader === undefined ? 'none (no coordinator holds the lease)' : leader.since === undefined ? leader.id : `${leader.id}, since ${formatTime(leader.since, now)}`]]))
  return parts.join('\n')
}

function renderWorkers(workers: readonly WorkerInfo[], now: number): string {
  if (workers.length === 0) return 'Workers: none\n'
  const peerIds = new Set(workers.map((w) => w.peerId))
  const lines = workers.map((w) => {
    const where = [w.host, w.pid === undefined ? undefined : `pid ${w.pid}`].filter(Boolean).join(' ')
    const load = w.concurrency === undefined ? `${w.active ?? 0} active` : `${w.active ?? 0}/${w.concurrency} busy`
    const conns = w.connections === undefined ? '' : `, ${formatInt(w.connections)} conns`
    return `  ${w.id}: ${load}${conns}${where === '' ? '' : `, ${where}`}, seen ${formatRelative(w.lastSeen, now)}\n`
  })
  // all workers should share the provider identity; say so loudly when they don't
  const identity = peerIds.size === 1 ? `  provider peer ID: ${[...peerIds][0]}\n` : `  WARNING: ${peerIds.size} different peer IDs: ${[...peerIds].join(', ')}\n`
  return `Workers (${workers.length}):\n${identity}${lines.join('')}`
}
