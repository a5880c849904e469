/**
 * The network side of the scale model, measured: the real Sweeper runs region jobs
 * over a simnet of Amino's size (silent servers, dial timeouts, RTTs), with regions
 * filled to the key counts that 10M–1B CIDs give, and reports each job's virtual
 * explore and send time, lookups and records. Also gives the schedule's regions:
 * the partition the real region math makes of the network's live servers.
 */
import { keyInPrefix, prefixesOfLength, regionsOf, type Prefix } from '@sweep/keyspace'
import { Prng, SimKeySet, SimNetwork, type SimHost } from '@sweep/simnet'
import { sampleNetwork, Sweeper, type ProvideKey, type RegionReport } from '@sweep/sweep'

export interface SimnetSettings {
  readonly servers: number
  readonly seed: number
  readonly unreachableFraction: number
  readonly dialTimeoutMs: number
  readonly minRttMs: number
  readonly maxRttMs: number
  readonly k: number
}

export interface RegionSample {
  readonly keys: number
  /** Whether the same Sweeper had just swept the neighbouring region (its lookups' proofs reused). */
  readonly warm: boolean
  readonly lookups: number
  readonly findNodes: number
  readonly exploreMs: number
  readonly sendMs: number
  readonly records: number
  readonly recordsFailed: number
}

export interface SimnetCalibration {
  readonly settings: SimnetSettings
  readonly samples: RegionSample[]
  /** The schedule: regions of the live servers by the real region math, in keyspace order. */
  readonly regions: Prefix[]
  readonly networkEstimate: number
  readonly prefixLength: number
  readonly wallMs: number
}

/**
 * densities: keys per region to measure at; regionsPerDensity regions each, half swept
 * back to back by one Sweeper (warm after the first), half one per fresh Sweeper (cold).
 */
export async function calibrateSimnet(settings: SimnetSettings, densities: readonly number[], regionsPerDensity: number, log: (msg: string) => void): Promise<SimnetCalibration> {
  const wallStart = performance.now()
  const network = SimNetwork.create({
    servers: settings.servers,
    seed: settings.seed,
    unreachableFraction: settings.unreachableFraction,
    latency: { dialTimeoutMs: settings.dialTimeoutMs, minRttMs: settings.minRttMs, maxRttMs: settings.maxRttMs },
    recordKeysWhere: null
  })
  const clock = network.clock
  const live: { key: Uint8Array }[] = []
  for (let i = 0; i < network.size; i++) if (network.isReachable(i)) live.push(network.peer(i))
  const regions = regionsOf(live, '', settings.k).map((r) => r.prefix)

  const probe = network.createHost({ seed: settings.seed + 1 })
  const estimate = await clock.run(() => sampleNetwork(probe, settings.k))
  const candidates = prefixesOfLength(estimate.prefixLength)
  const prng = new Prng(settings.seed + 2)
  const samples: RegionSample[] = []

  for (const density of densities) {
    const warmRun = Math.ceil(regionsPerDensity / 2)
    const startAt = prng.int(candidates.length - warmRun)
    const contiguous = candidates.slice(startAt, startAt + warmRun)
    const scattered = Array.from({ length: regionsPerDensity - warmRun }, () => candidates[prng.int(candidates.length)])
    const host = network.createHost({ seed: prng.int(2 ** 31) })
    const sweeper = newSweeper(host, contiguous, density, prng, estimate.size, clock)
    for (const [i, prefix] of contiguous.entries()) samples.push(await measure(host, sweeper.sweeper, prefix, i > 0, clock))
    for (const prefix of scattered) {
      const coldHost = network.createHost({ seed: prng.int(2 ** 31) })
      const cold = newSweeper(coldHost, [prefix], density, prng, estimate.size, clock)
      samples.push(await measure(coldHost, cold.sweeper, prefix, false, clock))
    }
    const mine = samples.slice(-regionsPerDensity)
    log(`${density} keys/region: explore ${mean(mine.map((s) => s.exploreMs)).toFixed(0)} ms, send ${mean(mine.map((s) => s.sendMs)).toFixed(0)} ms, ${mean(mine.map((s) => s.lookups)).toFixed(1)} lookups (virtual time, mean of ${mine.length})`)
  }
  return { settings, samples, regions, networkEstimate: estimate.size, prefixLength: estimate.prefixLength, wallMs: performance.now() - wallStart }
}

function newSweeper(host: SimHost, prefixes: readonly Prefix[], density: number, prng: Prng, networkSize: number, clock: SimNetwork['clock']): { sweeper: Sweeper } {
  const keys: ProvideKey[] = []
  for (const prefix of prefixes) {
    for (let i = 0; i < density; i++) {
      const multihash = new Uint8Array(34)
      multihash[0] = 0x12
      multihash[1] = 0x20
      prng.fill(multihash.subarray(2))
      // kad keys drawn inside the region: only placement is simulated, so they need not be SHA-256 of the multihash
      keys.push({ multihash, key: keyInPrefix(prefix, prng.bytes(32)) })
    }
  }
  const source = SimKeySet.fromKeys(keys)
  return { sweeper: new Sweeper({ router: host, sender: host, keys: source, clock }, { networkSize }) }
}

async function measure(host: SimHost, sweeper: Sweeper, prefix: Prefix, warm: boolean, clock: SimNetwork['clock']): Promise<RegionSample> {
  const before = host.stats()
  const report: RegionReport = await clock.run(() => sweeper.sweepRegion(prefix))
  const after = host.stats()
  const exploreMs = report.exploreMs ?? 0
  return {
    keys: report.keys,
    warm,
    lookups: report.lookups,
    findNodes: after.rpcs - before.rpcs,
    exploreMs,
    sendMs: report.durationMs - exploreMs,
    records: report.recordsSent,
    recordsFailed: report.recordsFailed
  }
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length
}

/** Least-squares line y = a + b·x. */
export function fitLine(points: ReadonlyArray<readonly [number, number]>): { a: number; b: number } {
  const n = points.length
  const mx = mean(points.map(([x]) => x))
  const my = mean(points.map(([, y]) => y))
  let sxy = 0
  let sxx = 0
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my)
    sxx += (x - mx) ** 2
  }
  const b = n > 1 && sxx > 0 ? sxy / sxx : 0
  return { a: my - b * mx, b }
}
