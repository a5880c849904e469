/** The scale model behind bench:scale-sim: the discrete-event cluster and the region jobs it runs. */
import { describe, expect, it } from 'vitest'
import type { RegionSample } from '../calibrate-simnet.ts'
import { simulateCluster, type ClusterModel, type Phase, type RegionJob } from '../cluster-model.ts'
import { planRegions, regionJobs, type CostModel } from '../region-jobs.ts'

const jobsOf = (count: number, phase: Phase, dueSec = 0): RegionJob[] => Array.from({ length: count }, () => ({ dueSec, phases: () => [phase] }))
const model = (workers: number, over: Partial<ClusterModel> = {}): ClusterModel => ({ workers, jobsPerWorker: 1, coresPerWorker: 1, redisKeysPerSec: Infinity, ...over })

describe('the scale model of a sweep cluster', () => {
  it('with nothing shared, N workers finish N times faster', () => {
    const jobs = () => jobsOf(64, { cpuSec: 0, minSec: 10, redisKeys: 0 })
    const one = simulateCluster(model(1), jobs())
    const eight = simulateCluster(model(8), jobs())
    expect(one.makespanSec).toBeCloseTo(640, 6)
    expect(eight.makespanSec).toBeCloseTo(80, 6)
    expect(eight.busySec.every((b) => Math.abs(b - 80) < 1e-6)).toBe(true)
  })

  it('shares a worker core among its jobs, and a job never beats its network time', () => {
    const cpuBound = simulateCluster(model(1, { jobsPerWorker: 2 }), jobsOf(2, { cpuSec: 10, minSec: 1, redisKeys: 0 }))
    expect(cpuBound.makespanSec).toBeCloseTo(20, 6)
    expect(cpuBound.latencySec.map((l) => Math.round(l))).toEqual([20, 20])
    expect(cpuBound.cpuSec[0]).toBeCloseTo(20, 6)
    const networkBound = simulateCluster(model(1, { jobsPerWorker: 2 }), jobsOf(2, { cpuSec: 1, minSec: 10, redisKeys: 0 }))
    expect(networkBound.makespanSec).toBeCloseTo(10, 6)
    expect(networkBound.cpuSec[0]).toBeCloseTo(2, 6)
  })

  it('a shared Redis caps the cluster: past its rate more workers add nothing', () => {
    // a job streams 1000 keys over 10 s of CPU: a busy worker reads 100 keys/s; Redis feeds 400
    const jobs = () => jobsOf(64, { cpuSec: 10, minSec: 0, redisKeys: 1000 })
    const redis = { redisKeysPerSec: 400 }
    const one = simulateCluster(model(1, redis), jobs())
    const four = simulateCluster(model(4, redis), jobs())
    const eight = simulateCluster(model(8, redis), jobs())
    expect(one.makespanSec).toBeCloseTo(640, 4)
    expect(four.makespanSec).toBeCloseTo(160, 4)
    expect(eight.makespanSec).toBeCloseTo(160, 4)
    expect(one.makespanSec / (8 * eight.makespanSec)).toBeCloseTo(0.5, 4)
    expect(eight.redisBoundShare).toBeGreaterThan(0.99)
    expect(one.redisBoundShare).toBe(0)
  })

  it('takes regions at their due time and counts how late each finished', () => {
    const jobs: RegionJob[] = [
      { dueSec: 0, phases: () => [{ cpuSec: 0, minSec: 30, redisKeys: 0 }] },
      { dueSec: 10, phases: () => [{ cpuSec: 0, minSec: 5, redisKeys: 0 }] },
      { dueSec: 100, phases: () => [{ cpuSec: 0, minSec: 5, redisKeys: 0 }] }
    ]
    const run = simulateCluster(model(1), jobs)
    // the second waits for the first's slot to free at 30 s, the third starts on time
    expect(run.latencySec.map((l) => +l.toFixed(6))).toEqual([30, 25, 5])
    expect(run.makespanSec).toBeCloseTo(105, 6)
    expect(run.busySec[0]).toBeCloseTo(40, 6)
  })

  it('refuses jobs out of due order, naming the job', () => {
    const jobs = [...jobsOf(1, { cpuSec: 0, minSec: 1, redisKeys: 0 }, 5), ...jobsOf(1, { cpuSec: 0, minSec: 1, redisKeys: 0 }, 1)]
    expect(() => simulateCluster(model(1), jobs)).toThrow('job 1')
  })
})

describe('region jobs for the scale model', () => {
  const sample = (warm: boolean, exploreMs: number): RegionSample => ({ keys: 0, warm, lookups: 2, findNodes: 0, exploreMs, sendMs: 0, records: 0, recordsFailed: 0 })
  const cost: CostModel = {
    cpuPerRecordUs: 50, cpuPerLookupMs: 100, cpuPerKeyReadUs: 0, recordsPerKey: 20, sendMs: { a: 0, b: 0.5 },
    warm: [sample(true, 1000)], cold: [sample(false, 9000)], coverageTtlSec: 1800
  }

  it('splits the CIDs by region width and slots regions over the interval', () => {
    const plan = planRegions(['0', '10', '110', '111'], 8_000_000, new Uint8Array(32), 22 * 3600)
    expect(plan.map((p) => p.keys)).toEqual([4_000_000, 2_000_000, 1_000_000, 1_000_000])
    // self = 0…: slots follow keyspace order, each at its start's share of the interval
    expect(plan.map((p) => p.slotSec / 3600)).toEqual([0, 11, 16.5, 19.25])
  })

  it('a worker that just swept the neighbour explores warm; any other worker explores cold', () => {
    const plan = planRegions(['00', '01', '10', '11'], 4000, new Uint8Array(32), 3600)
    const jobs = regionJobs(plan, cost, true)
    const first = jobs[0].phases(0, 0)
    const neighbourSameWorker = jobs[1].phases(0, 60)
    const neighbourOtherWorker = jobs[2].phases(1, 60)
    expect(first[0].minSec).toBe(9)
    expect(neighbourSameWorker[0].minSec).toBe(1)
    expect(neighbourOtherWorker[0].minSec).toBe(9)
    // 1000 keys × 20 records × 50 µs of CPU, at least 1000 × 0.5 ms of network
    expect(neighbourSameWorker[1]).toEqual({ cpuSec: 1, minSec: 0.5, redisKeys: 1000 })
    // past the coverage TTL the proofs are gone
    expect(jobs[3].phases(1, 60 + 1801)[0].minSec).toBe(9)
  })
})
