import { describe, expect, it } from 'vitest'
import type { RegionReport } from '@sweep/sweep'
import { ResweepPlan } from '@sweep/coordinator'

const T = 1_700_000_000_000
const policy = { failureShare: 0.1, delayMs: 60_000, maxPerCycle: 2 }

function report(prefix: string, peersReached: number, peersFailed: number, mode: RegionReport['mode'] = 'sweep'): RegionReport {
  return {
    prefix, peerPrefix: prefix, regions: [], mode, complete: true, keys: 100, recordsSent: 2000, recordsFailed: 0,
    peersFound: peersReached + peersFailed, peersReached, peersFailed, lookups: 3, durationMs: 500, succeeded: true
  }
}

describe('ResweepPlan', () => {
  it('plans a re-sweep after the delay when the failure share reaches the threshold, and not below it', () => {
    const plan = new ResweepPlan(policy)
    expect(plan.consider(report('00', 37, 3), 1, T)).toBeUndefined()
    expect(plan.consider(report('01', 36, 4), 1, T)).toBe(T + 60_000)
    expect(plan.consider(report('10', 0, 0, 'empty'), 1, T)).toBeUndefined()
    expect(plan.take(T + 59_999, 1, () => false)).toEqual([])
    expect(plan.take(T + 60_000, 1, () => false)).toEqual([{ prefix: '01', number: 1 }])
    // taken once: it has left the plan
    expect(plan.take(T + 120_000, 1, () => false)).toEqual([])
  })

  it('waits while the region has a job out, and caps re-sweeps per region and cycle', () => {
    const plan = new ResweepPlan(policy)
    plan.consider(report('1', 10, 10), 4, T)
    expect(plan.take(T + 60_000, 4, () => true)).toEqual([])
    expect(plan.take(T + 61_000, 4, () => false)).toEqual([{ prefix: '1', number: 1 }])
    plan.consider(report('1', 10, 10), 4, T + 70_000)
    expect(plan.take(T + 130_000, 4, () => false)).toEqual([{ prefix: '1', number: 2 }])
    expect(plan.consider(report('1', 10, 10), 4, T + 140_000)).toBeUndefined()
    // a new cycle starts the count again
    expect(plan.consider(report('1', 10, 10), 5, T + 150_000)).toBe(T + 210_000)
    expect(plan.take(T + 210_000, 5, () => false)).toEqual([{ prefix: '1', number: 1 }])
  })
})

describe('ResweepPlan.noteDead', () => {
  const region = (prefix: string, lastReprovide: number | undefined, peers = 20) => ({
    prefix, lastReprovide, failures: 0, keys: 100, peers, recordsSent: 2000, lookups: 3, durationMs: 500
  })
  const regions = new Map([['0', region('0', T)], ['10', region('10', T)], ['11', region('11', undefined)]])

  it('plans a region once enough of its holders were found dead after its last sweep', () => {
    const plan = new ResweepPlan(policy)
    // 10% of 20 peers, at least two: the first death is not enough, nor one seen before the sweep
    expect(plan.noteDead([{ prefix: '0001', at: T + 5 }, { prefix: '0010', at: T - 5 }], regions, 1, T + 10)).toEqual([])
    expect(plan.noteDead([{ prefix: '0001', at: T + 6 }], regions, 1, T + 10)).toEqual([])
    expect(plan.noteDead([{ prefix: '0111', at: T + 7 }], regions, 1, T + 10)).toEqual(['0'])
    // never swept: it holds nothing yet
    expect(plan.noteDead([{ prefix: '1100', at: T + 7 }, { prefix: '1101', at: T + 8 }], regions, 1, T + 10)).toEqual([])
    expect(plan.take(T + 60_010, 1, () => false)).toEqual([{ prefix: '0', number: 1 }])
  })

  it('counts only deaths within minutes of each other: steady churn is left to the next slot', () => {
    const plan = new ResweepPlan(policy)
    expect(plan.noteDead([{ prefix: '0001', at: T + 5 }], regions, 1, T + 10)).toEqual([])
    expect(plan.noteDead([{ prefix: '0110', at: T + 700_000 }], regions, 1, T + 700_010)).toEqual([])
    expect(plan.pending).toBe(0)
  })

  it('forgets the deaths in a region once it is swept again', () => {
    const plan = new ResweepPlan(policy)
    plan.noteDead([{ prefix: '1000', at: T + 1 }], regions, 1, T + 10)
    plan.swept('10')
    expect(plan.noteDead([{ prefix: '1011', at: T + 2 }], regions, 1, T + 10)).toEqual([])
    expect(plan.pending).toBe(0)
  })
})

describe('ResweepPlan.churnAlarm', () => {
  const region = (prefix: string, lastReprovide: number | undefined) => ({
    prefix, lastReprovide, failures: 0, keys: 100, peers: 20, recordsSent: 2000, lookups: 3, durationMs: 500
  })
  // swept last cycle, this cycle before the deaths, after them, and never
  const regions = new Map([['00', region('00', T - 100_000)], ['01', region('01', T + 1000)], ['10', region('10', T + 9000)], ['11', region('11', undefined)]])
  const since = { cycle: 1, cycleBegan: T }

  it('when two regions show deaths within minutes, plans every region swept this cycle before the burst', () => {
    const plan = new ResweepPlan(policy)
    // a job in '11' that began at T + 5000 lost 6 of its 20 peers
    plan.consider({ ...report('11', 14, 6), durationMs: 2000 }, 1, T + 7000)
    expect(plan.churnAlarm(regions, since, T + 7000)).toEqual([])
    // a later job reports two dead peers inside '10'
    plan.noteDead([{ prefix: '1000', at: T + 8000 }, { prefix: '1011', at: T + 8100 }], regions, 1, T + 9500)
    expect(plan.churnAlarm(regions, since, T + 9500).sort()).toEqual(['01'])
    // one burst, one alarm
    plan.noteDead([{ prefix: '1001', at: T + 9600 }, { prefix: '1010', at: T + 9700 }], regions, 1, T + 9800)
    expect(plan.churnAlarm(regions, since, T + 9800)).toEqual([])
  })

  it('dates a burst from its second region: one earlier, lone region of deaths does not hide the regions swept since', () => {
    // '11' lost peers early in the cycle (churn, or an earlier failure); '00' and '01' were
    // swept after that, and then servers died across the network, seen in '10' and '11'
    const swept = new Map([['00', region('00', T + 2000)], ['01', region('01', T + 3000)], ['10', region('10', T + 9000)], ['11', region('11', T + 9500)]])
    const plan = new ResweepPlan(policy)
    plan.consider({ ...report('11', 14, 6), durationMs: 500 }, 1, T + 1000)
    expect(plan.churnAlarm(swept, since, T + 1000)).toEqual([])
    plan.consider({ ...report('10', 14, 6), durationMs: 1000 }, 1, T + 9000)
    plan.noteDead([{ prefix: '1100', at: T + 8600 }, { prefix: '1111', at: T + 8700 }], swept, 1, T + 9500)
    expect(plan.churnAlarm(swept, since, T + 9500).sort()).toEqual(['00', '01'])
  })

  it('stays quiet with deaths in one region only, or too few, or too far apart', () => {
    const plan = new ResweepPlan(policy)
    plan.consider({ ...report('11', 14, 6), durationMs: 2000 }, 1, T + 7000)
    plan.noteDead([{ prefix: '1100', at: T + 8000 }, { prefix: '1111', at: T + 8100 }, { prefix: '1000', at: T + 8200 }], regions, 1, T + 9000)
    expect(plan.churnAlarm(regions, since, T + 9000)).toEqual([])
    // the second region's evidence comes 11 minutes after the first
    plan.noteDead([{ prefix: '0100', at: T + 700_000 }, { prefix: '0111', at: T + 700_100 }], regions, 1, T + 700_200)
    expect(plan.churnAlarm(regions, since, T + 700_200)).toEqual([])
  })
})
