import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  formatBytes, formatCount, formatDuration, formatInt, formatPercent, formatRelative, formatTime, parseDuration, percentile
} from '../src/client/format.ts'
import { normalizeApiUrl } from '../src/client/api-client.ts'
import type { Stats } from '../src/client/api-types.ts'
import { renderStats } from '../src/client/stats.ts'
import { renderStatus } from '../src/client/status.ts'
import { describeSummary } from '../src/client/set-commands.ts'
import { describeTransfer } from '../src/client/progress.ts'
import { describeLive } from '../src/up/live-view.ts'

describe('formatCount', () => {
  it('abbreviates with k, M, B and keeps a decimal only where it says something', () => {
    expect([0, 7, 3.44, 185.2, 999, 1000, 1234, 99_949, 125_000, 999_999, 1_250_000, 3.4e9].map(formatCount))
      .toEqual(['0', '7', '3.4', '185', '999', '1k', '1.2k', '99.9k', '125k', '1M', '1.3M', '3.4B'])
    expect(formatCount(-1500)).toBe('-1.5k')
    // rounded whole, 999.5 of a unit would print as 1000 of it
    expect([999.5, 999_500, 999_500_000].map(formatCount)).toEqual(['1k', '1M', '1B'])
    expect([null, undefined, Number.NaN].map(formatCount)).toEqual(['-', '-', '-'])
  })

  it('stays within a 20% error of the value and never prints 1000 of a unit', () => {
    fc.assert(fc.property(fc.double({ min: 1, max: 1e14, noNaN: true }), (n) => {
      const text = formatCount(n)
      const match = /^(\d+(?:\.\d)?)([kMBT]?)$/.exec(text)
      expect(match).not.toBeNull()
      const scale = { '': 1, k: 1e3, M: 1e6, B: 1e9, T: 1e12 }[match![2] as '' | 'k' | 'M' | 'B' | 'T']
      if (match![2] !== '' && match![2] !== 'T') expect(Number(match![1])).toBeLessThan(1000)
      expect(Math.abs(Number(match![1]) * scale - n) / n).toBeLessThan(0.2)
    }))
  })
})

describe('durations', () => {
  it('formats with the two largest units', () => {
    expect([350, 4200, 59_000, 65_000, 3_600_000, 15_120_000, 90_000_000].map(formatDuration))
      .toEqual(['350ms', '4.2s', '59s', '1m 5s', '1h', '4h 12m', '1d 1h'])
    expect(formatDuration(null)).toBe('-')
  })

  it('parses the forms the flags take, and names a bad one', () => {
    expect(['500ms', '30s', '5m', '22h', '1h30m', '1.5h', '2d', '45'].map(parseDuration))
      .toEqual([500, 30_000, 300_000, 79_200_000, 5_400_000, 5_400_000, 172_800_000, 45_000])
    for (const bad of ['', 'soon', '5 minutes', '5m ago', 'm5', '1h-3m']) expect(() => parseDuration(bad)).toThrow(`"${bad}" is not a duration`)
  })

  it('round-trips whole seconds through format and parse when the format is exact', () => {
    fc.assert(fc.property(fc.integer({ min: 60, max: 86_399 }), (seconds) => {
      const text = formatDuration(seconds * 1000).replace(' ', '')
      const back = parseDuration(text)
      // two units: exact to the smaller unit, which is a minute above an hour
      expect(Math.abs(back - seconds * 1000)).toBeLessThan(seconds >= 3600 ? 60_000 : 1000)
    }))
  })
})

describe('times', () => {
  const now = Date.UTC(2025, 0, 2, 3, 4, 5)
  it('says how far away a time is', () => {
    expect(formatRelative(now + 180_000, now)).toBe('in 3m')
    expect(formatRelative(now - 15_120_000, now)).toBe('4h 12m ago')
    expect(formatRelative(now + 200, now)).toBe('now')
    expect(formatTime(now - 60_000, now)).toBe('2025-01-02T03:03:05Z (1m ago)')
    expect(formatTime(null, now)).toBe('-')
  })
})

describe('other formats', () => {
  it('formats bytes, percents, integers and percentiles', () => {
    expect([512, 1536, 4 * 1024 * 1024, 600e6].map(formatBytes)).toEqual(['512 B', '1.5 KiB', '4 MiB', '572.2 MiB'])
    expect([0.934, 1, 0].map(formatPercent)).toEqual(['93.4%', '100%', '0%'])
    expect(formatInt(20000)).toBe('20,000')
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3)
    expect(percentile([5, 1, 4, 2, 3], 95)).toBe(5)
    expect(percentile([], 50)).toBeNaN()
  })

  it('accepts an API address with or without a scheme and refuses other schemes', () => {
    expect(normalizeApiUrl('127.0.0.1:8080')).toBe('http://127.0.0.1:8080')
    expect(normalizeApiUrl('https://sweep.example.com/')).toBe('https://sweep.example.com')
    expect(() => normalizeApiUrl('ftp://x')).toThrow('--api: "ftp://x" must be an http or https URL')
  })

  it('describes transfer progress with a total, and without one for a pipe', () => {
    expect(describeTransfer({ bytes: 30 * 2 ** 20, lines: 500_000, totalBytes: 60 * 2 ** 20, elapsedMs: 10_000 }))
      .toBe('30 MiB / 60 MiB (50%), 500k lines, 50k lines/s, ETA 10s')
    expect(describeTransfer({ bytes: 1024, lines: 17, totalBytes: undefined, elapsedMs: 2000 })).toBe('1 KiB, 17 lines, 8.5 lines/s')
  })
})

const now = Date.UTC(2025, 0, 2, 12, 0, 0)
const stats: Stats = {
  keys: { total: 1_234_567, regions: 512, avgRegionSize: 2411.3, avgPrefixLength: 9.02 },
  queues: { waiting: 12, prioritized: 3, active: 4, delayed: 1, failed: 2 },
  workers: [
    { id: 'worker-1', peerId: '12D3KooWAAA', host: 'h1', pid: 11, concurrency: 4, active: 3, lastSeen: now - 2000, bootstrap: [], announce: [], connections: 150 },
    { id: 'worker-2', peerId: '12D3KooWAAA', host: 'h2', pid: 12, concurrency: 4, active: 1, lastSeen: now - 4000, bootstrap: [], announce: [], connections: 90 }
  ],
  cycle: {
    start: now - 15_120_000, intervalMs: 22 * 3_600_000, number: 3, offsetMs: 15_120_000, regionsDone: 97, regionsTotal: 512,
    keysProvided: 230_000, nextRegion: '0101', nextAt: now + 180_000
  },
  provides: {
    recordsSent: 24_000_000, recordsFailed: 12, keysProvided: 1_200_000, keysPerMinute: 3400, lookups: 3200,
    regionsOk: 500, regionsFailed: 2, regionsEmpty: 10, lastRegionAt: now - 2000
  },
  network: { size: 9800, prefixLength: 9, measuredAt: now - 180_000, reachablePeers: 9500, unreachablePeers: 300, connectivity: 'online' },
  leader: { id: 'coord-abc', since: now - 3_600_000 }
}

describe('renderStats', () => {
  it('lays the stats out in titled sections with formatted numbers, durations and times', () => {
    const text = renderStats(stats, now)
    for (const title of ['Keys:', 'Schedule / Cycle:', 'Queues:', 'Workers (2):', 'Provides:', 'Network:', 'Leader:']) {
      expect(text).toContain(`\n${title}\n`.slice(title === 'Keys:' ? 1 : 0))
    }
    expect(text).toMatch(/CIDs: +1\.2M \(1,234,567\)/)
    expect(text).toMatch(/Offset: +4h 12m \(19\.1% of the interval\)/)
    expect(text).toMatch(/Regions done: +97 \/ 512 \(18\.9%\)/)
    expect(text).toMatch(/Next region: +0101 in 3m/)
    expect(text).toMatch(/Keys provided: +1\.2M \(3\.4k keys\/min over the last 10m\)/)
    expect(text).toMatch(/Records sent: +24M \(12 failed\)/)
    expect(text).toContain('provider peer ID: 12D3KooWAAA')
    expect(text).toContain('worker-1: 3/4 busy, 150 conns, h1 pid 11, seen 2s ago')
    expect(text).toMatch(/Size estimate: +~9\.8k servers/)
    expect(text).toContain('coord-abc, since 2025-01-02T11:00:00Z (1h ago)')
  })

  it('copes with a coordinator that has no cycle, no workers and no leader yet', () => {
    const text = renderStats({ ...stats, workers: [], leader: null, cycle: { ...stats.cycle, start: null, intervalMs: null, nextRegion: null, nextAt: null } }, now)
    expect(text).toContain('Workers: none')
    expect(text).toMatch(/Cycle: +not started yet/)
    expect(text).toContain('none (no coordinator holds the lease)')
  })

  it('warns when workers disagree on the provider identity', () => {
    const [a, b] = stats.workers as [Stats['workers'][number], Stats['workers'][number]]
    expect(renderStats({ ...stats, workers: [a, { ...b, peerId: '12D3KooWBBB' }] }, now)).toContain('WARNING: 2 different peer IDs')
  })

  it('describes the live view in one line', () => {
    expect(describeLive(stats)).toBe('keys 1.2M · regions 97/512 this cycle · provided 1.2M · queue 15 waiting, 4 active, 2 failed · ' +
      'workers 2 · records 24M · 3.4k keys/min')
  })
})

describe('renderStatus and describeSummary', () => {
  it('shows where a stored CID stands, and says plainly when it is not stored', () => {
    const text = renderStatus({
      cid: 'bafkreiabc', stored: true, once: false, kadKey: 'ab'.repeat(32), region: '0110', lastProvide: now - 180_000,
      outcome: 'ok', nextSlot: now + 15_120_000, expectedHolders: 20
    }, now)
    expect(text).toMatch(/Region: +0110 \(4 bits\)/)
    expect(text).toMatch(/Last provide: +2025-01-02T11:57:00Z \(3m ago\)/)
    expect(text).toMatch(/Next slot: +.*\(in 4h 12m\)/)
    expect(text).toMatch(/Expected holders: +20/)
    expect(renderStatus({ cid: 'bafkreixyz', stored: false }, now)).toBe('bafkreixyz is not in the reprovide set (add it with `sweep provide`)\n')
  })

  it('summarizes an upload with its rate, and a strict reset that was not committed', () => {
    const base = {
      input: 'cids.txt', lines: 10_003, bytes: 600_000, chunks: 1, accepted: 10_000, added: 9_000, duplicates: 1_000, removed: 0,
      total: null, invalidCount: 3, invalid: [], committed: false, elapsedMs: 2000
    }
    const provide = describeSummary({ ...base, operation: 'provide' })
    expect(provide).toMatch(/added \(new\) +9,000/)
    expect(provide).toMatch(/duplicates +1,000/)
    expect(provide).toMatch(/invalid +3/)
    expect(provide).toMatch(/rate +5k CIDs\/s/)
    const reset = describeSummary({ ...base, operation: 'reset' })
    expect(reset).toContain('aborted (--strict) because 3 lines were invalid')
    expect(reset).toContain('not committed: the reprovide set is unchanged')
    expect(describeSummary({ ...base, operation: 'reset', committed: true, total: 10_000 })).toMatch(/new set +10,000 keys \(committed\)/)
  })
})
