/**
 * The shared side of the scale model, measured: how much CPU one redis-server spends
 * per key a worker streams with Keystore.keys (region by region, as jobs read them),
 * and how much the reading worker spends. Redis is single-threaded, so
 * 1 ÷ (its CPU per key) is the most keys per second all workers together can stream.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { prefixesOfLength } from '@sweep/keyspace'
import { connectRedis, Keystore, startRedisServer, waitForRedis } from '@sweep/store'

export interface RedisCalibration {
  readonly keys: number
  readonly regions: number
  /** redis-server CPU per key streamed (µs). */
  readonly redisCpuUsPerKey: number
  /** The reading process's CPU per key (µs): decoding and SHA-256 for the kad key. */
  readonly readerCpuUsPerKey: number
  readonly wallUsPerKey: number
}

/** Linux /proc: utime + stime of a process, in seconds (clock ticks are 1/100 s). */
function processCpuSec(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

export async function calibrateRedis(keyCount: number, regionPrefixLength: number, log: (msg: string) => void): Promise<RedisCalibration> {
  const dir = await mkdtemp(join(tmpdir(), 'sweep-scale-sim-'))
  const server = await startRedisServer({ dir, appendOnly: false })
  const redis = connectRedis(server.url, { name: 'scale-sim' })
  try {
    await waitForRedis(redis, server.url)
    const keystore = await Keystore.open(redis, { namespace: 'scale', bucketBits: 16 })
    const batch = 50_000
    for (let done = 0; done < keyCount; done += batch) {
      const multihashes = Array.from({ length: Math.min(batch, keyCount - done) }, () => Buffer.concat([Buffer.from([0x12, 0x20]), randomBytes(32)]))
      await keystore.add(multihashes)
    }
    const prefixes = prefixesOfLength(regionPrefixLength)
    // read twice, keep the second: the first warms caches and JIT
    let result: RedisCalibration | undefined
    for (let round = 0; round < 2; round++) {
      const redisBefore = processCpuSec(server.pid)
      const readerBefore = process.cpuUsage()
      const wallBefore = performance.now()
      let read = 0
      for (const prefix of prefixes) for await (const keys of keystore.keys(prefix, 10_000)) read += keys.length
      if (read !== keyCount) throw new Error(`streamed ${read} keys, stored ${keyCount}`)
      const reader = process.cpuUsage(readerBefore)
      result = {
        keys: read,
        regions: prefixes.length,
        redisCpuUsPerKey: ((processCpuSec(server.pid) - redisBefore) * 1e6) / read,
        readerCpuUsPerKey: (reader.user + reader.system) / read,
        wallUsPerKey: ((performance.now() - wallBefore) * 1000) / read
      }
    }
    log(`redis: ${result!.redisCpuUsPerKey.toFixed(2)} µs of redis-server CPU and ${result!.readerCpuUsPerKey.toFixed(2)} µs of reader CPU per key streamed (${keyCount} keys in ${prefixes.length} regions)`)
    return result!
  } finally {
    redis.disconnect()
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
