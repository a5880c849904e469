import type { Redis } from 'ioredis'
import { refreshSlotMap, serverAddress, serversOf } from './redis.ts'
import { HASH_LISTPACK_ENTRIES } from './redis-server.ts'

/** A sha2-256 multihash is 34 bytes; the value is '' or '1'. */
const LISTPACK_VALUE_BYTES = 64

/**
 * Buckets must stay listpack-encoded to cost ~38 bytes per key instead of ~100 in a
 * hashtable. Raises the limits if Redis allows CONFIG SET; otherwise returns warnings
 * that say what to change. On a cluster, on every node: a replica promoted in a failover
 * must keep the buckets as compact, and a warning names the node.
 */
export async function checkListpackConfig(redis: Redis): Promise<string[]> {
  // once, at start: replicas that synced after the client connected are listed only on a re-read
  await refreshSlotMap(redis)
  const servers = serversOf(redis, 'all')
  const warnings = await Promise.all(servers.map((server) => checkServer(server)))
  return servers.length === 1 ? warnings[0] : warnings.flatMap((of, i) => of.map((warning) => `${serverAddress(servers[i])}: ${warning}`))
}

async function checkServer(redis: Redis): Promise<string[]> {
  const warnings: string[] = []
  for (const [setting, needed] of [['hash-max-listpack-entries', HASH_LISTPACK_ENTRIES], ['hash-max-listpack-value', LISTPACK_VALUE_BYTES]] as const) {
    let current: number
    try {
      const reply = await redis.config('GET', setting) as string[]
      current = Number(reply[1])
      if (reply.length < 2 || !Number.isFinite(current)) throw new Error(`no value for ${setting}`)
    } catch (error) {
      warnings.push(`could not read ${setting} (${(error as Error).message}); keystore buckets need ${setting} >= ${needed} to stay compact`)
      continue
    }
    if (current >= needed) continue
    try {
      await redis.config('SET', setting, String(needed))
    } catch (error) {
      warnings.push(`${setting} is ${current} and CONFIG SET to ${needed} was refused (${(error as Error).message}); keystore buckets larger than that turn into hashtables at ~3× the memory per key. Set ${setting} ${needed} in redis.conf.`)
    }
  }
  return warnings
}
