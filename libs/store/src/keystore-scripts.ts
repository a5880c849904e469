import { FORWARD } from './rebucket-scripts.ts'

/**
 * Lua defining mark_all(dirty, marks) and mark(dirty, prefixes, width), which marks each
 * prefix of a concatenation. A mark holds Redis' own clock (TIME, in microseconds) at its
 * writing, and the newest mark wins: the leader compares it with when a running job began
 * reading keys (also Redis' clock), to tell whether the job read these keys already. A few
 * thousand fields per HSET keep unpack within Lua's stack.
 */
export const MARK = `local function mark_all(dirty, marks)
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

/** The Lua of the keystore's writes: adds, removes, and settling and repairing native adds. */
export const KEYSTORE_WRITE_SCRIPTS = {
  /**
   * Adds members to several buckets in one call: one Lua call per bucket would make
   * the per-command overhead (mostly the client's) the cost of an add.
   * KEYS[1..m] buckets, then, when ARGV[3] is '1', KEYS[m+1..2m] the same buckets of
   * the generation being replaced. ARGV[1] '' (permanent) or '1' (once), ARGV[2] m,
   * ARGV[4..3+m] members per bucket, then the members, bucket by bucket, then, while a
   * re-bucketing copies the generation, one byte per member: its child (see FORWARD).
   * Returns one character per member: '0' was stored already, '1' new, '2' new here
   * but present in the replaced generation. A permanent add turns an existing once
   * member permanent; a once add never touches an existing member. A last key after the
   * buckets is the generation's total counter, raised by the new members in this call:
   * a counter updated apart from the write drifts when the process dies between the two.
   */
  sweepKeystoreAdd: {
    keys: 0,
    lua: `${FORWARD}local value = ARGV[1]
local m = tonumber(ARGV[2])
local compare = ARGV[3] == '1'
local total = KEYS[(compare and 2 or 1) * m + 1]
local r = rebucket_of(total)
local children = children_after(4, m)
local added = 0
local out = {}
local at = 4 + m
for b = 1, m do
  local bucket = KEYS[b]
  rebucket_bucket(r, bucket)
  for _ = 1, tonumber(ARGV[3 + b]) do
    local member = ARGV[at]
    if redis.call('HSETNX', bucket, member, value) == 1 then
      if compare and redis.call('HEXISTS', KEYS[m + b], member) == 1 then out[#out + 1] = '2' else out[#out + 1] = '1' end
      added = added + 1
    else
      if value == '' and redis.call('HGET', bucket, member) == '1' then redis.call('HSET', bucket, member, '') end
      out[#out + 1] = '0'
    end
    forward(r, bucket, member, children, at - 3 - m)
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
   * marking, ARGV[3] the buckets' prefixes, all of one length, concatenated ('' when not).
   * While a re-bucketing copies the generation, ARGV[4] one byte per member: its child.
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
    lua: `${MARK}${FORWARD}local once = ARGV[1] == '1'
local blob = ARGV[2]
local marking = ARGV[3] ~= nil and ARGV[3] ~= ''
local m = #KEYS - (marking and 3 or 1)
local markAll = marking and redis.call('EXISTS', KEYS[m + 3]) == 1
local r = rebucket_of(KEYS[m + 1])
local children = ARGV[4]
local ordinal = 0
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
  rebucket_bucket(r, KEYS[b])
  local fields = {}
  for i = 1, n do
    hi, lo = byte(blob, at, at + 1)
    local length = hi * 256 + lo
    fields[2 * i - 1] = sub(blob, at + 2, at + 1 + length)
    fields[2 * i] = ''
    at = at + 2 + length
  end
  if once then
    for i = 1, n do fresh = fresh + redis.call('HSETNX', KEYS[b], fields[2 * i - 1], '1') end
    if r then for i = 1, n do forward(r, KEYS[b], fields[2 * i - 1], children, ordinal + i) end end
  else
    fresh = redis.call('HSET', KEYS[b], unpack(fields))
    forward_all(r, KEYS[b], fields, children, ordinal + 1)
  end
  ordinal = ordinal + n
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
    lua: `${MARK}${FORWARD}local token = ARGV[1]
local prefixes = ARGV[3]
local counted = 1
if token ~= '' then
  local entry = redis.call('HGET', KEYS[3], token)
  if entry then
    local touched = string.sub(entry, 3)
    local width = tonumber(string.sub(entry, 1, 2))
    if width then touch_prefixes(rebucket_of(KEYS[1], true), touched, width) end
    if ARGV[5] == '1' then
      local writer = string.match(token, '^(.*:)')
      for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
        if string.sub(field, 1, #writer) ~= writer then
          prefixes = touched
          break
        end
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
   * flag, [3] the dirty hash, [4] the current generation, [5] the keystore config, [6] the
   * re-bucketing state. ARGV[1] the writer liveness key prefix, [2] bucket name prefix
   * (`<ns>:ks:`), [3] total counter prefix, [4] '1' to recount even when not asked to.
   * An entry (two digits of prefix width, then the prefixes) whose writer's liveness key
   * expired is dead: its buckets are marked (and touched, when a re-bucketing copies buckets
   * of that width) and it is dropped, and a recount is asked for. The recount runs only
   * when no live writer has an add under way, since one whose HSETs ran but whose count has
   * not would be counted twice; then it sets the current generation's total to the sum of
   * HLEN over every bucket, at that generation's bits. Bucket keys are named here rather
   * than passed (standalone Redis; 2^bits of them).
   * Returns {dead entries repaired, live entries, the new total or -1 when not recounted}.
   */
  sweepKeystoreRepair: {
    keys: 6,
    lua: `${MARK}local repaired, live = 0, 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local writer = string.match(field, '^(.*):') or field
  if redis.call('EXISTS', ARGV[1] .. writer) == 1 then
    live = live + 1
  else
    local entry = redis.call('HGET', KEYS[1], field) or '00'
    local width = tonumber(string.sub(entry, 1, 2)) or 0
    if width > 0 then
      mark(KEYS[3], string.sub(entry, 3), width)
      if redis.call('HGET', KEYS[6], 'fromBits') == tostring(width) then
        for i = 3, #entry, width do redis.call('SETBIT', KEYS[6] .. ':touched', tonumber(string.sub(entry, i, i + width - 1), 2), 1) end
      end
    end
    redis.call('HDEL', KEYS[1], field)
    redis.call('SET', KEYS[2], '1')
    repaired = repaired + 1
  end
end
if live > 0 or (ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[2]) == 0) then return {repaired, live, -1} end
local generation = redis.call('GET', KEYS[4]) or '0'
local bits = tonumber(redis.call('HGET', KEYS[5], 'bits:' .. generation) or redis.call('HGET', KEYS[5], 'bucketBits'))
local base = ARGV[2] .. generation .. ':'
local format = '%0' .. math.ceil(bits / 4) .. 'x'
local n = 0
for b = 0, 2 ^ bits - 1 do n = n + redis.call('HLEN', base .. string.format(format, b)) end
redis.call('SET', ARGV[3] .. generation, n)
redis.call('DEL', KEYS[2])
return {repaired, live, n}`
  },
  /**
   * KEYS[1..m] buckets, then optionally [m+1] the total counter and [m+2] the recount-needed
   * flag; ARGV[1] '1' to delete only members still flagged once, ARGV[2] m, ARGV[3..2+m]
   * members per bucket, then the members, then, while a re-bucketing copies the generation,
   * one byte per member: its child (see FORWARD). Lowers the total by the deleted count in the same
   * step, never below 0: a total short of what was deleted has drifted, so a recount is
   * asked for. Returns how many were deleted.
   */
  sweepKeystoreRemove: {
    keys: 0,
    lua: `${FORWARD}local onlyOnce = ARGV[1] == '1'
local m = tonumber(ARGV[2])
local r = rebucket_of(KEYS[m + 1])
local children = children_after(3, m)
local removed = 0
local at = 3 + m
for b = 1, m do
  local bucket = KEYS[b]
  rebucket_bucket(r, bucket)
  for _ = 1, tonumber(ARGV[2 + b]) do
    local member = ARGV[at]
    if not onlyOnce or redis.call('HGET', bucket, member) == '1' then
      removed = removed + redis.call('HDEL', bucket, member)
    end
    forward(r, bucket, member, children, at - 2 - m)
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
  }
} as const
