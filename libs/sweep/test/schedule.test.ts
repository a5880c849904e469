import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { isAncestorOrSelf, prefixesOfLength, type Prefix } from '@sweep/keyspace'
import {
  applyScheduleChange, cycleNumber, dueRegions, nextSlot, refineSchedule, slotTime,
  type CycleClock, type RegionReport
} from '@sweep/sweep'

const HOUR = 3_600_000
const clock: CycleClock = { cycleStart: 1_000_000, intervalMs: 22 * HOUR, self: new Uint8Array(32) }

function report(prefix: Prefix, regions: Prefix[], overrides: Partial<RegionReport> = {}): RegionReport {
  return {
    prefix, peerPrefix: prefix, regions: regions.map((p) => ({ prefix: p, peers: 20 })), mode: 'sweep', complete: true,
    keys: 1, recordsSent: 20, recordsFailed: 0, peersFound: 20, peersReached: 20, peersFailed: 0, lookups: 2,
    durationMs: 5, succeeded: true, ...overrides
  }
}

/** True when every key has exactly one prefix of the set above it. */
function isPartition(schedule: Set<Prefix>): boolean {
  const sorted = [...schedule].sort()
  for (let i = 1; i < sorted.length; i++) if (isAncestorOrSelf(sorted[i - 1], sorted[i])) return false
  const width = sorted.reduce((sum, p) => sum + 2 ** -p.length, 0)
  return Math.abs(width - 1) < 1e-12
}

describe('slots', () => {
  it('spreads the regions of one prefix length evenly over the interval, in XOR order from self', () => {
    const prefixes = prefixesOfLength(4)
    const offsets = prefixes.map((p) => slotTime(clock, p, 0) - clock.cycleStart).sort((a, b) => a - b)
    expect(offsets[0]).toBe(0)
    for (let i = 1; i < offsets.length; i++) expect(offsets[i] - offsets[i - 1]).toBeCloseTo(clock.intervalMs / 16, -1)
    expect(slotTime(clock, '0011', 2) - slotTime(clock, '0011', 0)).toBe(2 * clock.intervalMs)
  })
})

describe('dueRegions', () => {
  const regions = prefixesOfLength(3)
  const now = clock.cycleStart + 5 * clock.intervalMs + clock.intervalMs / 2 - 1000

  it('catches up every region never provided, or not within an interval', () => {
    const due = dueRegions([{ prefix: '000' }, { prefix: '001', lastReprovide: now - clock.intervalMs - 1 }], clock, now)
    expect(due).toEqual([{ prefix: '000', reason: 'catch-up', cycle: 5 }, { prefix: '001', reason: 'catch-up', cycle: 5 }])
  })

  it('holds back regions whose slot has not come, and those provided since their slot', () => {
    const history = regions.map((prefix) => ({ prefix, lastReprovide: now - clock.intervalMs / 2 - 1 }))
    const due = dueRegions(history, clock, now)
    // just under half the cycle has passed: the four regions whose slots came are due, the rest wait
    expect(due.map((d) => d.prefix)).toEqual(['000', '001', '010', '011'])
    expect(due.every((d) => d.reason === 'reprovide' && d.cycle === 5)).toBe(true)
    const afterProvide = history.map((r) => (due.some((d) => d.prefix === r.prefix) ? { ...r, lastReprovide: now } : r))
    expect(dueRegions(afterProvide, clock, now + 1)).toEqual([])
  })

  it('over a simulated day enqueues each region once per cycle, at its slot', () => {
    const history = new Map(regions.map((prefix) => [prefix, { prefix, lastReprovide: clock.cycleStart - 1 }]))
    const enqueued = new Map<Prefix, number[]>()
    for (let t = clock.cycleStart; t < clock.cycleStart + 3 * clock.intervalMs; t += 60_000) {
      for (const d of dueRegions(history.values(), clock, t)) {
        enqueued.set(d.prefix, [...(enqueued.get(d.prefix) ?? []), t])
        history.set(d.prefix, { prefix: d.prefix, lastReprovide: t })
      }
    }
    for (const prefix of regions) {
      const times = enqueued.get(prefix) ?? []
      expect(times.length).toBe(3)
      for (let c = 0; c < 3; c++) expect(times[c] - slotTime(clock, prefix, c)).toBeLessThan(60_000)
    }
  })

  it('names the next slot to sleep until', () => {
    const history = regions.map((prefix) => ({ prefix, lastReprovide: now }))
    const next = nextSlot(history, clock, now)
    expect(next?.prefix).toBe('100')
    expect(next?.at).toBe(slotTime(clock, '100', cycleNumber(clock, now)))
  })
})

describe('refineSchedule', () => {
  it('splits a prefix into the regions found, filling gaps, and leaves exact matches alone', () => {
    const schedule = new Set(prefixesOfLength(2))
    expect(refineSchedule(schedule, report('01', ['01']))).toEqual({ remove: [], add: [] })
    const change = refineSchedule(schedule, report('01', ['010', '0110']))
    expect(change).toEqual({ remove: ['01'], add: ['010', '0110', '0111'] })
    applyScheduleChange(schedule, change)
    expect(isPartition(schedule)).toBe(true)
  })

  it('merges the prefixes inside a region that needed widening', () => {
    const schedule = new Set(['00', '010', '011', '1'])
    const change = refineSchedule(schedule, report('010', ['01'], { peerPrefix: '01' }))
    expect(change).toEqual({ remove: ['010', '011'], add: ['01'] })
  })

  it('ignores partial explorations and plain or empty regions', () => {
    const schedule = new Set(prefixesOfLength(2))
    expect(refineSchedule(schedule, report('01', ['010', '011'], { complete: false }))).toEqual({ remove: [], add: [] })
    expect(refineSchedule(schedule, report('01', [], { mode: 'empty' }))).toEqual({ remove: [], add: [] })
  })

  it('keeps the schedule a partition of the keyspace whatever regions are reported', () => {
    const bits = fc.stringMatching(/^[01]{0,4}$/)
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(), fc.array(bits, { maxLength: 4 })), { maxLength: 30 }), (steps) => {
      const schedule = new Set(prefixesOfLength(2))
      for (const [pick, tails] of steps) {
        const entries = [...schedule]
        const prefix = entries[pick % entries.length]
        const cut = Math.max(0, prefix.length - (pick % 3))
        const regions = tails.map((tail) => prefix.slice(0, cut) + tail)
        // reported regions are disjoint, as a k-trie's leaves are
        const disjoint = regions.filter((r, i) => regions.every((o, j) => j === i || (!isAncestorOrSelf(o, r) || (o === r && j > i))))
        applyScheduleChange(schedule, refineSchedule(schedule, report(prefix, disjoint)))
        expect(isPartition(schedule)).toBe(true)
      }
    }))
  })
})
