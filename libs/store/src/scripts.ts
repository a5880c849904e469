import type { ChainableCommander, Redis } from 'ioredis'
import { REPLICA_WAIT_MS, refreshSlotMap, replicasToConfirm } from './redis.ts'
import { KEYSTORE_WRITE_SCRIPTS, MARK } from './keystore-scripts.ts'
import { REBUCKET_SCRIPTS } from './rebucket-scripts.ts'

/**
 * The Lua scripts of the store, registered with ioredis' defineCommand: it sends
 * EVALSHA, falls back to EVAL after a Redis restart emptied the script cache, and
 * works inside pipelines.
 */
const SCRIPTS = {
  ...KEYSTORE_WRITE_SCRIPTS,
  /**
   * KEYS[1] reset lock, [2] generation seq, [3] generations set; ARGV[1] lock ttl ms.
   * Returns the new generation, or 0 when a reset already holds the lock.
   */
  sweepKeystoreBeginReset: {
    keys: 3,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local generation = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], generation, 'PX', ARGV[1])
redis.call('SADD', KEYS[3], generation)
return generation`
  },
  /** KEYS[1] reset lock; ARGV[1] generation, [2] ttl ms. 1 while the lock is still this reset's. */
  sweepKeystoreRenewReset: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`
  },
  /**
   * KEYS[1] reset lock, [2] current generation, [3] old total, [4] new total; ARGV[1] new generation.
   * Switches the current generation in one step. Returns {old generation, old total, new total},
   * or an empty table when the lock is no longer this reset's.
   */
  sweepKeystoreCommitReset: {
    keys: 4,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {} end
local old = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return {old, tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0')}`
  },
  /**
   * KEYS[1] current generation, [2] reset lock, [3] generations set, [4] re-bucketing state:
   * one consistent view of {current, generation being reset or '', every tracked generation,
   * the generations a re-bucketing copies from and to, or ''}. Tracks the current one too.
   */
  sweepKeystoreGenerations: {
    keys: 4,
    lua: `local current = redis.call('GET', KEYS[1]) or '0'
redis.call('SADD', KEYS[3], current)
local rebucket = redis.call('HMGET', KEYS[4], 'from', 'to')
return {current, redis.call('GET', KEYS[2]) or '', redis.call('SMEMBERS', KEYS[3]), rebucket[1] or '', rebucket[2] or ''}`
  },
  /**
   * KEYS[1] current generation, [2] keystore config, [3] re-bucketing state: {generation, its
   * bucket bits, the bits of a re-bucketing copying it or 0}, the bits being the generation's
   * own field when it has one (a re-bucketing wrote it), else the keystore's bucketBits.
   */
  sweepKeystoreCurrent: {
    keys: 3,
    lua: `local generation = redis.call('GET', KEYS[1]) or '0'
local bits = redis.call('HGET', KEYS[2], 'bits:' .. generation) or redis.call('HGET', KEYS[2], 'bucketBits')
local rebucket = redis.call('HMGET', KEYS[3], 'from', 'phase', 'toBits')
local forward = 0
if rebucket[1] == generation and rebucket[2] == 'copying' then forward = tonumber(rebucket[3]) end
return {tonumber(generation), tonumber(bits), forward}`
  },
  /**
   * KEYS[1] lease, [2] epoch, [3] schedule; ARGV[1] leader id, [2] token, [3] how many fields to
   * delete, then those fields, then field/value pairs to set. Returns 1, or 0 when fenced out.
   */
  sweepScheduleFencedWrite: {
    keys: 3,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
local removes = tonumber(ARGV[3])
for i = 4, 3 + removes do redis.call('HDEL', KEYS[3], ARGV[i]) end
for i = 4 + removes, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
return 1`
  },
  /** KEYS[1] the dirty hash; ARGV the prefixes to mark (see MARK). */
  sweepMarkDirty: {
    keys: 1,
    lua: `${MARK}mark_all(KEYS[1], ARGV)
return #ARGV`
  },
  /** KEYS[1] workers hash, [2] expiry zset; ARGV[1] now. Drops workers whose heartbeat expired. */
  sweepPruneWorkers: {
    keys: 2,
    lua: `local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for _, id in ipairs(dead) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #dead`
  },
  /** KEYS[1] lease, [2] epoch; ARGV[1] id, [2] ttl ms. Returns the new epoch, or 0 when held. */
  sweepLeaseAcquire: {
    keys: 2,
    lua: `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end
return 0`
  },
  /** KEYS[1] lease; ARGV[1] id, [2] ttl ms. */
  sweepLeaseRenew: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`
  },
  /** KEYS[1] lease (or reset lock); ARGV[1] the holder's id. Deletes it only if still held by that id. */
  sweepLeaseRelease: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
  },
  ...REBUCKET_SCRIPTS
} as const

export type ScriptName = keyof typeof SCRIPTS
export type ScriptArg = string | Buffer | number

type ScriptFunction = (...args: ScriptArg[]) => unknown

/** Registers the scripts on a client once; pipelines made afterwards inherit them. */
export function defineScripts(redis: Redis): void {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    // keys 0: the caller passes the key count first, for scripts over a variable number of buckets
    if (!(name in redis)) redis.defineCommand(name, script.keys === 0 ? { lua: script.lua } : { numberOfKeys: script.keys, lua: script.lua })
  }
}

function scriptOf(target: Redis | ChainableCommander, name: ScriptName): ScriptFunction {
  const fn = (target as unknown as Record<string, ScriptFunction | undefined>)[name]
  if (fn === undefined) throw new Error(`Lua script ${name} is not defined on this client: call defineScripts(redis) first`)
  return fn
}

export function runScript(redis: Redis, name: ScriptName, keys: readonly ScriptArg[], args: readonly ScriptArg[]): Promise<unknown> {
  return scriptOf(redis, name).call(redis, ...withKeyCount(name, keys), ...args) as Promise<unknown>
}

export function queueScript(pipeline: ChainableCommander, name: ScriptName, keys: readonly ScriptArg[], args: readonly ScriptArg[]): void {
  scriptOf(pipeline, name).call(pipeline, ...withKeyCount(name, keys), ...args)
}

function withKeyCount(name: ScriptName, keys: readonly ScriptArg[]): readonly ScriptArg[] {
  return SCRIPTS[name].keys === 0 ? [keys.length, ...keys] : keys
}

/** A write refused because it named a generation a re-bucketing has replaced (see FORWARD). */
export const REBUCKETED = Symbol('rebucketed')

/**
 * Results of pipeline.exec() as execPipeline gives them, with REBUCKETED for each refused
 * write. On a cluster URL with wait=N, the writes count only once N replicas confirm them:
 * a WAIT at the end of the pipeline (it has no key, so it goes to the node the writes went to).
 */
export async function execWrites(pipeline: ChainableCommander, target?: { readonly redis: Redis; readonly key: string }): Promise<unknown[]> {
  const replicas = target === undefined ? 0 : replicasToConfirm(target.redis, target.key)
  if (replicas > 0) pipeline.call('WAIT', replicas, REPLICA_WAIT_MS)
  const results = await pipeline.exec()
  if (results === null) throw new Error('Redis pipeline was discarded')
  if (replicas > 0) {
    const [error, confirmed] = results.pop()!
    if (error) throw error
    // after a failover the slot map may still list the promoted master's dead peer as its replica
    if ((confirmed as number) < replicas && (confirmed as number) < await replicasAfterRefresh(target!.redis, target!.key)) {
      throw new Error(`Redis Cluster: ${confirmed} of ${replicas} replica(s) confirmed a keystore write within ${REPLICA_WAIT_MS} ms (wait=N in the URL asks for N), so a failover could lose it; it counts as not done, and retrying it is safe`)
    }
  }
  return results.map(([error, value]) => {
    if (error) {
      if (error.message.includes('SWEEP_REBUCKETED')) return REBUCKETED
      throw error
    }
    return value
  })
}

/** replicasToConfirm once the client has read the cluster's slot map afresh. */
async function replicasAfterRefresh(redis: Redis, key: string): Promise<number> {
  await refreshSlotMap(redis)
  return replicasToConfirm(redis, key)
}

/** Results of pipeline.exec(), throwing the first command error instead of returning it. */
export async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = await pipeline.exec()
  if (results === null) throw new Error('Redis pipeline was discarded')
  return results.map(([error, value]) => {
    if (error) throw error
    return value
  })
}
