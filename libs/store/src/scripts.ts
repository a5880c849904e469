import type { ChainableCommander, Redis } from 'ioredis'

/**
 * Lua defining mark_all(dirty, marks) and mark(dirty, prefixes, width), which marks each
 * prefix of a concatenation. A mark holds Redis' own clock (TIME, in microseconds) at its
 * writing, and the newest mark wins: the leader compares it with when a running job began
 * reading keys (also Redis' clock), to tell whether the job read these keys already. A few
 * thousand fields per HSET keep unpack within Lua's stack.
 */
const MARK = `local function mark_all(dirty, marks)
  if #marks == 0 then return end
  local time = redis.call('TIME')
  local now = time[1] .. string.format('%06d', tonumber(time[2]))
  for from = 1, #marks, 2000 do
    local fields = {}
    for i = from, math.min(#marks, from + 1999) do
      fields[#fields + 1] = marks[i]
      fields[#fields + 1] = now
    end
    redis.call('HSET', dirty, unpack(fields))
  end
end
local function mark(dirty, prefixes, width)
  local marks = {}
  for i = 1, #prefixes / width do marks[i] = string.sub(prefixes, (i - 1) * width + 1, i * width) end
  mark_all(dirty, marks)
end
`

/**
 * The Lua scripts of the store, registered with ioredis' defineCommand: it sends
 * EVALSHA, falls back to EVAL after a Redis restart emptied the script cache, and
 * works inside pipelines.
 */
const SCRIPTS = {
  /**
   * Adds members to several buckets in one call: one Lua call per bucket would make
   * the per-command overhead (mostly the client's) the cost of an add.
   * KEYS[1..m] buckets, then, when ARGV[3] is '1', KEYS[m+1..2m] the same buckets of
   * the generation being replaced. ARGV[1] '' (permanent) or '1' (once), ARGV[2] m,
   * ARGV[4..3+m] members per bucket, then the members, bucket by bucket.
   * Returns one character per member: '0' was stored already, '1' new, '2' new here
   * but present in the replaced generation. A permanent add turns an existing once
   * member permanent; a once add never touches an existing member. A last key after the
   * buckets is the generation's total counter, raised by the new members in this call:
   * a counter updated apart from the write drifts when the process dies between the two.
   */
  sweepKeystoreAdd: {
    keys: 0,
    lua: `local value = ARGV[1]
local m = tonumber(ARGV[2])
local compare = ARGV[3] == '1'
local total = KEYS[(compare and 2 or 1) * m + 1]
local added = 0
local out = {}
local at = 4 + m
for b = 1, m do
  local bucket = KEYS[b]
  for _ = 1, tonumber(ARGV[3 + b]) do
    local member = ARGV[at]
    if redis.call('HSETNX', bucket, member, value) == 1 then
      if compare and redis.call('HEXISTS', KEYS[m + b], member) == 1 then out[#out + 1] = '2' else out[#out + 1] = '1' end
      added = added + 1
    else
      if value == '' and redis.call('HGET', bucket, member) == '1' then redis.call('HSET', bucket, member, '') end
      out[#out + 1] = '0'
    end
    at = at + 1
  end
end
if total and added > 0 then redis.call('INCRBY', total, added) end
return table.concat(out)`
  },
  /**
   * The add that only counts. KEYS[1..m] buckets, KEYS[m+1] the generation's total counter,
   * KEYS[m+2] the dirty hash and KEYS[m+3] the unsettled-adds hash when marking. ARGV[1] '' (permanent) or '1' (once), ARGV[2] the
   * members: per bucket a 2-byte count, then per member a 2-byte length and its bytes. When
   * marking, ARGV[3] the buckets' prefixes, all of one length, concatenated.
   * A permanent add is one HSET per bucket: it counts new fields and turns an existing once
   * member permanent without counting it; a once add is HSETNX per member. Adds the new
   * count to the total, marks the buckets that got new members (see MARK), and returns
   * {new members, one '1' or '0' per bucket}. While a native add is unsettled (under way,
   * or died before its count), every bucket of the call is marked, new members or not: that
   * add may have stored these very members without marking them, and this call, a retry
   * perhaps, is what finds them already stored.
   */
  sweepKeystoreAddCount: {
    keys: 0,
    lua: `${MARK}local once = ARGV[1] == '1'
local blob = ARGV[2]
local marking = ARGV[3] ~= nil
local m = #KEYS - (marking and 3 or 1)
local markAll = marking and redis.call('EXISTS', KEYS[m + 3]) == 1
local byte, sub = string.byte, string.sub
local at = 1
local added = 0
local flags = {}
local marks = {}
local width = marking and #ARGV[3] / m or 0
for b = 1, m do
  local hi, lo = byte(blob, at, at + 1)
  local n = hi * 256 + lo
  at = at + 2
  local fresh = 0
  if once then
    for _ = 1, n do
      hi, lo = byte(blob, at, at + 1)
      local length = hi * 256 + lo
      fresh = fresh + redis.call('HSETNX', KEYS[b], sub(blob, at + 2, at + 1 + length), '1')
      at = at + 2 + length
    end
  elseif n == 1 then
    hi, lo = byte(blob, at, at + 1)
    local length = hi * 256 + lo
    fresh = redis.call('HSET', KEYS[b], sub(blob, at + 2, at + 1 + length), '')
    at = at + 2 + length
  else
    local fields = {}
    for i = 1, n do
      hi, lo = byte(blob, at, at + 1)
      local length = hi * 256 + lo
      fields[2 * i - 1] = sub(blob, at + 2, at + 1 + length)
      fields[2 * i] = ''
      at = at + 2 + length
    end
    fresh = redis.call('HSET', KEYS[b], unpack(fields))
  end
  if fresh > 0 then
    added = added + fresh
    flags[b] = '1'
    if marking then marks[#marks + 1] = sub(ARGV[3], (b - 1) * width + 1, b * width) end
  else
    flags[b] = '0'
    if markAll then marks[#marks + 1] = sub(ARGV[3], (b - 1) * width + 1, b * width) end
  end
end
if added > 0 then redis.call('INCRBY', KEYS[m + 1], added) end
mark_all(KEYS[m + 2], marks)
return {added, table.concat(flags)}`
  },
  /**
   * What follows a native add's HSETs (addCountNative), or marks buckets without an add.
   * KEYS[1] the total counter, [2] the dirty hash, [3] the unsettled-adds hash, [4] the
   * recount-needed flag. ARGV[1] the add's entry in [3] ('' for none), [2] new members,
   * [3] prefixes to mark, concatenated, [4] their length, [5] '1' to mark.
   * Settles the entry: counts the new members only while it is still there (when a repair
   * took it, it asks for another recount instead, its writes having run partly before and
   * partly after the last one). When another writer's add is unsettled, marks every bucket
   * this add touched (the entry's value), for the reason given at sweepKeystoreAddCount.
   * Returns 1 when counted, 0 when a recount was asked for.
   */
  sweepKeystoreSettle: {
    keys: 4,
    lua: `${MARK}local token = ARGV[1]
local prefixes = ARGV[3]
local counted = 1
if token ~= '' then
  local writer = string.match(token, '^(.*:)')
  if ARGV[5] == '1' then
    for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
      if string.sub(field, 1, #writer) ~= writer then
        prefixes = redis.call('HGET', KEYS[3], token) or prefixes
        break
      end
    end
  end
  counted = redis.call('HDEL', KEYS[3], token)
end
if counted == 1 then
  local added = tonumber(ARGV[2])
  if added > 0 then redis.call('INCRBY', KEYS[1], added) end
else
  redis.call('SET', KEYS[4], '1')
end
if ARGV[5] == '1' then mark(KEYS[2], prefixes, tonumber(ARGV[4])) end
return counted`
  },
  /**
   * Repairs what adds that died left. KEYS[1] the unsettled-adds hash, [2] the recount-needed
   * flag, [3] the dirty hash, [4] the current generation. ARGV[1] the writer liveness key
   * prefix, [2] bucketBits, [3] bucket name prefix (`<ns>:ks:`), [4] hex digits of a
   * bucket, [5] total counter prefix, [6] '1' to recount even when not asked to.
   * An entry whose writer's liveness key expired is dead: its buckets are marked and it is
   * dropped, and a recount is asked for. The recount runs only when no live writer has an
   * add under way, since one whose HSETs ran but whose count has not would be counted twice;
   * then it sets the current generation's total to the sum of HLEN over every bucket. Bucket
   * keys are named here rather than passed (standalone Redis; 2^bucketBits of them).
   * Returns {dead entries repaired, live entries, the new total or -1 when not recounted}.
   */
  sweepKeystoreRepair: {
    keys: 4,
    lua: `${MARK}local repaired, live = 0, 0
local width = tonumber(ARGV[2])
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local writer = string.match(field, '^(.*):') or field
  if redis.call('EXISTS', ARGV[1] .. writer) == 1 then
    live = live + 1
  else
    mark(KEYS[3], redis.call('HGET', KEYS[1], field) or '', width)
    redis.call('HDEL', KEYS[1], field)
    redis.call('SET', KEYS[2], '1')
    repaired = repaired + 1
  end
end
if live > 0 or (ARGV[6] ~= '1' and redis.call('EXISTS', KEYS[2]) == 0) then return {repaired, live, -1} end
local generation = redis.call('GET', KEYS[4]) or '0'
local base = ARGV[3] .. generation .. ':'
local format = '%0' .. ARGV[4] .. 'x'
local n = 0
for b = 0, 2 ^ width - 1 do n = n + redis.call('HLEN', base .. string.format(format, b)) end
redis.call('SET', ARGV[5] .. generation, n)
redis.call('DEL', KEYS[2])
return {repaired, live, n}`
  },
  /**
   * KEYS[1..m] buckets, then optionally [m+1] the total counter and [m+2] the recount-needed
   * flag; ARGV[1] '1' to delete only members still flagged once, ARGV[2] m, ARGV[3..2+m]
   * members per bucket, then the members. Lowers the total by the deleted count in the same
   * step, never below 0: a total short of what was deleted has drifted, so a recount is
   * asked for. Returns how many were deleted.
   */
  sweepKeystoreRemove: {
    keys: 0,
    lua: `local onlyOnce = ARGV[1] == '1'
local m = tonumber(ARGV[2])
local removed = 0
local at = 3 + m
for b = 1, m do
  local bucket = KEYS[b]
  for _ = 1, tonumber(ARGV[2 + b]) do
    local member = ARGV[at]
    if not onlyOnce or redis.call('HGET', bucket, member) == '1' then
      removed = removed + redis.call('HDEL', bucket, member)
    end
    at = at + 1
  end
end
local total = KEYS[m + 1]
if total and removed > 0 then
  if removed > tonumber(redis.call('GET', total) or '0') then
    redis.call('SET', total, 0)
    redis.call('SET', KEYS[m + 2], '1')
  else
    redis.call('DECRBY', total, removed)
  end
end
return removed`
  },
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
   * KEYS[1] current generation, [2] reset lock, [3] generations set: one consistent view of
   * {current, generation being reset or '', every tracked generation}. Tracks the current one too.
   */
  sweepKeystoreGenerations: {
    keys: 3,
    lua: `local current = redis.call('GET', KEYS[1]) or '0'
redis.call('SADD', KEYS[3], current)
return {current, redis.call('GET', KEYS[2]) or '', redis.call('SMEMBERS', KEYS[3])}`
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
  }
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

/** Results of pipeline.exec(), throwing the first command error instead of returning it. */
export async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = await pipeline.exec()
  if (results === null) throw new Error('Redis pipeline was discarded')
  return results.map(([error, value]) => {
    if (error) throw error
    return value
  })
}
