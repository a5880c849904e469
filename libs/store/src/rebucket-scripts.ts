/**
 * Lua of the online re-bucketing (keystore-rebucket.ts): a generation is copied bucket by
 * bucket into a new one with more bucket bits, beside it, while adds and removes go on
 * against the old one; the switch makes the copy current in one step.
 */

/**
 * Lua helpers through which writes keep a re-bucketing's copy in step:
 * - rebucket_of(total, settling): the re-bucketing that copies the generation of a total
 *   counter (`<base>total:<generation>`), or nil (one HMGET per call). Once the copy is
 *   current, a write that still names the old generation (it read which one is current just
 *   before the switch) is refused with SWEEP_REBUCKETED before it writes anything, and its
 *   client writes again to the new one. Only a native add's settling step goes through: its
 *   HSETs already ran, and the mover merges those buckets.
 * - rebucket_bucket(r, bucket): looks up, once per bucket, whether it is copied yet.
 * - forward(r, bucket, member, children, i): after a write of member to a copied bucket,
 *   writes the member's state (its value, or its absence) to its child in the same step.
 *   Lua has no SHA-256, so the client tells each member's child: the i-th byte of children.
 *   A writer that did not know of the re-bucketing sent none; the bucket is marked touched
 *   instead, and the mover copies it again.
 * - forward_all(r, bucket, fields, children, first): the same for a permanent add's
 *   field/value pairs, one HSET per child.
 * - children_after(counts_at, m): the children argument of a script whose ARGV holds m
 *   member counts from counts_at, then the members, then the children.
 * - touch_prefixes(r, prefixes, width): marks the buckets a native add wrote with plain
 *   HSETs, which forward nothing.
 */
export const FORWARD = `local function rebucket_of(total, settling)
  if total == nil then return nil end
  local base, generation = string.match(total, '^(.*:ks:)total:(%d+)$')
  if base == nil then return nil end
  local state = redis.call('HMGET', base .. 'rebucket', 'from', 'phase', 'to', 'fromBits', 'toBits')
  if state[1] ~= generation then return nil end
  if state[2] == 'switched' and not settling then
    error({err = 'SWEEP_REBUCKETED generation ' .. generation .. ' was re-bucketed; write to the current one'})
  end
  local toBits = tonumber(state[5])
  return {touched = base .. 'rebucket:touched', copied = base .. 'rebucket:copied', to = state[3],
    spread = 2 ^ (toBits - tonumber(state[4])), format = '%0' .. math.ceil(toBits / 4) .. 'x'}
end
local function rebucket_bucket(r, bucket)
  if r == nil then return end
  r.number = tonumber(string.match(bucket, ':(%x+)$'), 16)
  r.copied_now = redis.call('GETBIT', r.copied, r.number) == 1
  r.names = string.match(bucket, '^(.*:)%d+:%x+$') .. r.to .. ':'
end
local function forward(r, bucket, member, children, i)
  if r == nil or not r.copied_now then return end
  if children == nil then
    redis.call('SETBIT', r.touched, r.number, 1)
    return
  end
  local child = r.names .. string.format(r.format, r.number * r.spread + string.byte(children, i))
  local value = redis.call('HGET', bucket, member)
  if value then redis.call('HSET', child, member, value) else redis.call('HDEL', child, member) end
end
local function forward_all(r, bucket, fields, children, first)
  if r == nil or not r.copied_now then return end
  if children == nil then
    redis.call('SETBIT', r.touched, r.number, 1)
    return
  end
  local by_child = {}
  for i = 1, #fields, 2 do
    local child = string.byte(children, first + (i - 1) / 2)
    local pairs_ = by_child[child]
    if pairs_ == nil then
      pairs_ = {}
      by_child[child] = pairs_
    end
    pairs_[#pairs_ + 1] = fields[i]
    pairs_[#pairs_ + 1] = fields[i + 1]
  end
  for child, pairs_ in pairs(by_child) do
    redis.call('HSET', r.names .. string.format(r.format, r.number * r.spread + child), unpack(pairs_))
  end
end
local function children_after(counts_at, m)
  local n = 0
  for b = 1, m do n = n + tonumber(ARGV[counts_at + b - 1]) end
  return ARGV[counts_at + m + n]
end
local function touch_prefixes(r, prefixes, width)
  if r == nil then return end
  for i = 1, #prefixes / width do redis.call('SETBIT', r.touched, tonumber(string.sub(prefixes, (i - 1) * width + 1, i * width), 2), 1) end
end
`

/**
 * Lua defining children(blob, c): the members of each of c child buckets, from the packed
 * form (per child a 2-byte count, then per member a 2-byte length and its bytes), and
 * unchanged(old, groups): whether the old bucket holds exactly these members. Redis' Lua
 * has no SHA-256, so the client reads a bucket, tells each member's child, and the script
 * acts only when the bucket did not change in between.
 */
const CHILDREN = `local function children(blob, c)
  local byte, sub = string.byte, string.sub
  local groups, at = {}, 1
  for i = 1, c do
    local hi, lo = byte(blob, at, at + 1)
    local n = hi * 256 + lo
    at = at + 2
    local members = {}
    for j = 1, n do
      hi, lo = byte(blob, at, at + 1)
      local length = hi * 256 + lo
      members[j] = sub(blob, at + 2, at + 1 + length)
      at = at + 2 + length
    end
    groups[i] = members
  end
  return groups
end
local function unchanged(old, groups)
  local n = 0
  for _, members in ipairs(groups) do
    for _, member in ipairs(members) do
      if redis.call('HEXISTS', old, member) == 0 then return false end
      n = n + 1
    end
  end
  return redis.call('HLEN', old) == n
end
`

export const REBUCKET_SCRIPTS = {
  /**
   * KEYS[1] reset lock, [2] generation seq, [3] generations set, [4] re-bucketing state, [5]
   * keystore config, [6] current generation. ARGV[1] lock ttl ms, [2] the current generation
   * as the caller saw it, [3] its bits, [4] the new bits. Takes the reset lock (so no reset
   * runs meanwhile) for a new generation, records both generations' bits and the state, and
   * returns the new generation; 0 when a reset or re-bucketing holds the lock or the
   * current generation is no longer the one seen.
   */
  sweepKeystoreBeginRebucket: {
    keys: 6,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local from = redis.call('GET', KEYS[6]) or '0'
if from ~= ARGV[2] then return 0 end
local to = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], to, 'PX', ARGV[1])
redis.call('SADD', KEYS[3], to)
redis.call('HSET', KEYS[5], 'bits:' .. from, ARGV[3], 'bits:' .. to, ARGV[4])
redis.call('DEL', KEYS[4] .. ':touched', KEYS[4] .. ':copied')
redis.call('HSET', KEYS[4], 'from', from, 'to', to, 'fromBits', ARGV[3], 'toBits', ARGV[4], 'phase', 'copying', 'cursor', 0)
return to`
  },
  /**
   * KEYS[1] reset lock, [2] re-bucketing state; ARGV[1] the new generation, [2] lock ttl ms.
   * Takes up a re-bucketing whose mover is gone (its lock expired): 1 when taken, 0 when
   * its lock is still held.
   */
  sweepKeystoreResumeRebucket: {
    keys: 2,
    lua: `if redis.call('HGET', KEYS[2], 'to') ~= ARGV[1] then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`
  },
  /**
   * Copies one old bucket into its children. KEYS[1] the old bucket, [2] the touched bitmap,
   * [3] reset lock, [4] re-bucketing state, [5..] every child bucket. ARGV[1] the new
   * generation, [2] the bucket's number, [3] the members by child (see children). When the
   * bucket still holds exactly those members, the children become them with their current
   * values, the bucket is marked copied (writes to it are forwarded from now on) and its
   * touched bit is cleared; otherwise the bit is set, for a later pass. Either way the
   * state's cursor (the first bucket not yet copied once) moves past it. Returns 1 copied,
   * 0 changed, -1 when the lock is not this re-bucketing's.
   */
  sweepKeystoreCopyBucket: {
    keys: 0,
    lua: `${CHILDREN}if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local old, bucket = KEYS[1], tonumber(ARGV[2])
local groups = children(ARGV[3], #KEYS - 4)
if tonumber(redis.call('HGET', KEYS[4], 'cursor')) <= bucket then redis.call('HSET', KEYS[4], 'cursor', bucket + 1) end
if not unchanged(old, groups) then
  redis.call('SETBIT', KEYS[2], bucket, 1)
  return 0
end
for i, members in ipairs(groups) do
  local child = KEYS[4 + i]
  redis.call('DEL', child)
  for from = 1, #members, 2000 do
    local fields = {}
    for j = from, math.min(#members, from + 1999) do
      fields[#fields + 1] = members[j]
      fields[#fields + 1] = redis.call('HGET', old, members[j])
    end
    redis.call('HSET', child, unpack(fields))
  end
end
redis.call('SETBIT', KEYS[2], bucket, 0)
redis.call('SETBIT', KEYS[4] .. ':copied', bucket, 1)
return 1`
  },
  /**
   * KEYS[1] reset lock, [2] re-bucketing state, [3] touched bitmap, [4] unsettled-adds
   * journal, [5] current generation, [6] keystore config, [7] old total, [8] new total.
   * ARGV[1] the new generation, [2] the end of the old buckets this keystore (or shard)
   * owns, which the copy's cursor must have passed. Makes the copy
   * current when every bucket was copied, none was written since, and no native add is
   * under way (its HSETs touch nothing until it settles); the old total carries over, the
   * copy being exact. Returns 1 switched, 0 not yet, -1 lock lost.
   */
  sweepKeystoreSwitchRebucket: {
    keys: 8,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if tonumber(redis.call('HGET', KEYS[2], 'cursor') or '0') < tonumber(ARGV[2]) then return 0 end
if redis.call('BITCOUNT', KEYS[3]) > 0 or redis.call('HLEN', KEYS[4]) > 0 then return 0 end
redis.call('SET', KEYS[5], ARGV[1])
redis.call('HSET', KEYS[6], 'bucketBits', redis.call('HGET', KEYS[2], 'toBits'))
redis.call('SET', KEYS[8], redis.call('GET', KEYS[7]) or '0')
redis.call('HSET', KEYS[2], 'phase', 'switched')
return 1`
  },
  /**
   * After the switch, adds that read the old generation just before it may still land there
   * (and touch it): merges one such bucket into its children. KEYS[1] the old bucket, [2]
   * touched bitmap, [3] reset lock, [4] new total, [5..] every child. ARGV as in
   * sweepKeystoreCopyBucket. Members are added, never removed (the children get writes of
   * their own now); a permanent member turns a once child member permanent. Returns the
   * members new to the children, -2 when the bucket changed, -1 lock lost.
   */
  sweepKeystoreMergeBucket: {
    keys: 0,
    lua: `${CHILDREN}if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local old, bucket = KEYS[1], tonumber(ARGV[2])
local groups = children(ARGV[3], #KEYS - 4)
if not unchanged(old, groups) then return -2 end
local fresh = 0
for i, members in ipairs(groups) do
  local child = KEYS[4 + i]
  for _, member in ipairs(members) do
    local value = redis.call('HGET', old, member)
    if redis.call('HSETNX', child, member, value) == 1 then
      fresh = fresh + 1
    elseif value == '' and redis.call('HGET', child, member) == '1' then
      redis.call('HSET', child, member, '')
    end
  end
end
redis.call('SETBIT', KEYS[2], bucket, 0)
if fresh > 0 then redis.call('INCRBY', KEYS[4], fresh) end
return fresh`
  },
  /**
   * KEYS[1] reset lock, [2] re-bucketing state, [3] keystore config; ARGV[1] the new
   * generation, [2] the old one. Ends a re-bucketing whose old generation is deleted.
   */
  sweepKeystoreEndRebucket: {
    keys: 3,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[2] .. ':touched', KEYS[2] .. ':copied', KEYS[1])
redis.call('HDEL', KEYS[3], 'bits:' .. ARGV[2])
return 1`
  }
} as const
