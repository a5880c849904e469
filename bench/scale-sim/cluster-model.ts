/**
 * Discrete-event model of a sweep cluster: N worker hosts, each running up to
 * `jobsPerWorker` region jobs at once on `coresPerWorker` cores, all reading keys
 * from one Redis. Regions arrive at their due times and are taken in due order
 * by the least-loaded worker with a free job slot (BullMQ: whichever worker asks
 * first; least-loaded is the even case).
 *
 * A job is a sequence of phases; a phase needs `cpuSec` of a core and cannot end
 * before `minSec` (its network time: round trips, dial timeouts, the servers'
 * per-record cost). Between events every rate is constant and comes from
 * progressive filling: CPU shares rise equally (processor sharing) until a phase
 * reaches its network-bound rate, its worker's cores are full, or Redis is full
 * (a phase reads `redisKeys` from Redis in proportion to its progress).
 */

export interface Phase {
  readonly cpuSec: number
  readonly minSec: number
  /** Keys streamed from Redis over the phase. */
  readonly redisKeys: number
}

export interface RegionJob {
  /** When the region becomes due (s from the start of the run). */
  readonly dueSec: number
  /** Phases given the worker that runs it: a worker that just swept a neighbour explores cheaper. */
  readonly phases: (worker: number, nowSec: number) => readonly Phase[]
}

export interface ClusterModel {
  readonly workers: number
  readonly jobsPerWorker: number
  readonly coresPerWorker: number
  /** Keys per second one Redis can stream to all workers together (Infinity: no limit). */
  readonly redisKeysPerSec: number
}

export interface ClusterRun {
  /** When the last job ended. */
  readonly makespanSec: number
  /** Per worker: seconds with at least one job running. */
  readonly busySec: number[]
  /** Per worker: core-seconds used. */
  readonly cpuSec: number[]
  /** Per job, in input order: seconds from due to done. */
  readonly latencySec: number[]
  /** Share of the run's time Redis was the binding limit for some phase. */
  readonly redisBoundShare: number
}

interface Running {
  readonly job: number
  readonly worker: number
  readonly phases: readonly Phase[]
  phase: number
  /** Fraction of the current phase still to do. */
  left: number
  rate: number
}

const EPSILON = 1e-9

/** Runs every job to completion; jobs must be sorted by dueSec. */
export function simulateCluster(model: ClusterModel, jobs: readonly RegionJob[]): ClusterRun {
  const { workers, jobsPerWorker } = model
  if (!(Number.isInteger(workers) && workers >= 1)) throw new Error(`workers must be a positive integer, got ${workers}`)
  if (!(Number.isInteger(jobsPerWorker) && jobsPerWorker >= 1)) throw new Error(`jobsPerWorker must be a positive integer, got ${jobsPerWorker}`)
  for (let i = 1; i < jobs.length; i++) if (jobs[i].dueSec < jobs[i - 1].dueSec) throw new Error(`jobs must be sorted by dueSec (job ${i})`)
  const busySec = new Array<number>(workers).fill(0)
  const cpuSec = new Array<number>(workers).fill(0)
  const latencySec = new Array<number>(jobs.length).fill(0)
  const load = new Array<number>(workers).fill(0)
  let running: Running[] = []
  let nextJob = 0
  let now = 0
  let redisBound = 0
  const waiting: number[] = []

  const start = (job: number, worker: number): void => {
    load[worker]++
    const phases = jobs[job].phases(worker, now)
    running.push({ job, worker, phases, phase: 0, left: 1, rate: 0 })
  }
  const dispatch = (): void => {
    while (waiting.length > 0) {
      let best = -1
      for (let w = 0; w < workers; w++) if (load[w] < jobsPerWorker && (best < 0 || load[w] < load[best])) best = w
      if (best < 0) return
      start(waiting.shift()!, best)
    }
  }

  while (nextJob < jobs.length || waiting.length > 0 || running.length > 0) {
    while (nextJob < jobs.length && jobs[nextJob].dueSec <= now + EPSILON) waiting.push(nextJob++)
    // free the slots of finished jobs before handing out the waiting ones
    running = advancePhases(running, jobs, now, latencySec, load)
    dispatch()
    // phases that need no time at all finish before the rest are rated
    if (running.some((r) => r.left <= EPSILON)) continue
    const redisLimited = assignRates(running, model)
    let step = nextJob < jobs.length ? jobs[nextJob].dueSec - now : Infinity
    for (const r of running) step = Math.min(step, r.left / r.rate)
    if (!Number.isFinite(step)) {
      if (running.length === 0 && waiting.length === 0) break
      throw new Error('cluster model stalled: a running phase makes no progress')
    }
    for (let w = 0; w < workers; w++) if (load[w] > 0) busySec[w] += step
    for (const r of running) {
      const phase = r.phases[r.phase]
      cpuSec[r.worker] += r.rate * step * phase.cpuSec
      r.left -= r.rate * step
    }
    if (redisLimited) redisBound += step
    now += step
  }
  return { makespanSec: now, busySec, cpuSec, latencySec, redisBoundShare: now > 0 ? redisBound / now : 0 }
}

/** Moves finished phases on, drops finished jobs; returns the jobs still running. */
function advancePhases(running: Running[], jobs: readonly RegionJob[], now: number, latencySec: number[], load: number[]): Running[] {
  const still: Running[] = []
  for (const r of running) {
    while (r.left <= EPSILON && r.phase < r.phases.length) {
      r.phase++
      r.left = 1
      const next = r.phases[r.phase]
      if (next !== undefined && next.cpuSec <= 0 && next.minSec <= 0) r.left = 0
    }
    if (r.phase >= r.phases.length) {
      latencySec[r.job] = now - jobs[r.job].dueSec
      load[r.worker]--
      continue
    }
    const phase = r.phases[r.phase]
    if (r.left === 1 && phase.cpuSec <= 0 && phase.minSec <= 0) r.left = 0
    still.push(r)
  }
  return still
}

/**
 * Progressive filling on CPU shares: every unfrozen phase's share rises by the same
 * step until one of them hits its network-bound rate, a worker's cores are used up
 * or Redis is. Phases with no CPU run at their network-bound rate. Returns whether
 * Redis bound any phase.
 */
export function assignRates(running: readonly Running[], model: ClusterModel): boolean {
  const share = new Map<Running, number>()
  const coresLeft = new Array<number>(model.workers).fill(model.coresPerWorker)
  let redisLeft = model.redisKeysPerSec
  let unfrozen: Running[] = []
  for (const r of running) {
    const phase = r.phases[r.phase]
    if (phase.cpuSec <= 0) {
      r.rate = 1 / phase.minSec
      redisLeft -= r.rate * phase.redisKeys
    } else {
      share.set(r, 0)
      unfrozen.push(r)
    }
  }
  let redisLimited = false
  while (unfrozen.length > 0) {
    const perWorker = new Map<number, number>()
    for (const r of unfrozen) perWorker.set(r.worker, (perWorker.get(r.worker) ?? 0) + 1)
    // keys per core-second of each phase: Redis load grows with its CPU share
    let redisPerShare = 0
    let step = Infinity
    for (const r of unfrozen) {
      const phase = r.phases[r.phase]
      redisPerShare += phase.redisKeys / phase.cpuSec
      const cap = phase.minSec > 0 ? phase.cpuSec / phase.minSec : Infinity
      step = Math.min(step, cap - share.get(r)!)
    }
    for (const [w, n] of perWorker) step = Math.min(step, coresLeft[w] / n)
    if (redisPerShare > 0) step = Math.min(step, Math.max(redisLeft, 0) / redisPerShare)
    step = Math.max(step, 0)
    for (const r of unfrozen) share.set(r, share.get(r)! + step)
    for (const [w, n] of perWorker) coresLeft[w] -= n * step
    redisLeft -= redisPerShare * step
    if (redisPerShare > 0 && redisLeft <= EPSILON * model.redisKeysPerSec) {
      redisLimited = true
      break
    }
    unfrozen = unfrozen.filter((r) => {
      const phase = r.phases[r.phase]
      const cap = phase.minSec > 0 ? phase.cpuSec / phase.minSec : Infinity
      return share.get(r)! < cap - EPSILON && coresLeft[r.worker] > EPSILON
    })
  }
  for (const [r, s] of share) r.rate = s / r.phases[r.phase].cpuSec
  return redisLimited
}
