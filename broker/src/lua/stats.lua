-- stats.lua: per-queue depths and counters, one page at a time.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {queues = queue names}; with no queues the known queues (qindex) are paged by name:
--   {after = the last name of the previous page, exclusive ("" = from the start), limit}.
-- Returns (msgpack): {items, next, known}: items[i] = {queue, ready = depth (the queued
--   gauge), dead = depth (ZCARD dead:<queue>), stats = flat HGETALL of stats:<queue>,
--   by_type, more_types};
--   next = the name to pass as `after` for the next page ("" = this was the last);
--   known = ZCARD qindex.
--   stats fields: submitted, succeeded, failed, retried, cancelled, stale (counters);
--   queued, blocked, delayed, running (gauges); c:<cost> (summed costs); throttled (ready
--   tasks a claim passed over because of a limit, counted per claim).
--   paused = true (only for a paused queue, queue_pause.lua).
--   limit, limit_running (only for a queue with limits, lib/limits.lua): its setting as text,
--   and the leases counted against its concurrency cap.
--   by_type: flat {type, ready count (a string), ...} of the TYPES_SHOWN types with the most
--   ready tasks (ties by name) among at most TYPES_READ of types:<queue>; more_types: the types of
--   types:<queue> not in by_type.
-- Each queue costs O(1) plus its counter fields and at most TYPES_READ ZCARDs of its ready
-- sets, and the whole call at most TYPES_BUDGET of them (queues past it get no by_type).
-- Read only.

local queues = A.queues or {}
local next_after = ''
if #queues == 0 then
  local after = A.after or ''
  local limit = tonumber(A.limit) or 1000
  local from = '-'
  if after ~= '' then from = '(' .. after end
  -- One more than asked: whether a next page exists.
  queues = redis.call('ZRANGEBYLEX', QUEUES, from, '+', 'LIMIT', 0, limit + 1)
  if #queues > limit then
    queues[#queues] = nil
    next_after = queues[#queues]
  end
end
local TYPES_SHOWN, TYPES_READ, TYPES_BUDGET = 32, 256, 4096
local budget = TYPES_BUDGET
local function ready_by_type(q)
  local n = redis.call('SCARD', types_key(q))
  if n == 0 or budget <= 0 then return {}, n end
  local types
  if n <= TYPES_READ then
    types = redis.call('SMEMBERS', types_key(q))
  else
    types = redis.call('SSCAN', types_key(q), 0, 'COUNT', TYPES_READ)[2]
  end
  local counted = {}
  for _, t in ipairs(types) do
    if budget <= 0 then break end
    budget = budget - 1
    local c = redis.call('ZCARD', ready_key(q, t))
    if c > 0 then counted[#counted + 1] = {t, c} end
  end
  table.sort(counted, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] < b[1]
  end)
  local flat = {}
  for j = 1, math.min(#counted, TYPES_SHOWN) do
    flat[#flat + 1] = counted[j][1]
    flat[#flat + 1] = tostring(counted[j][2])
  end
  return flat, n - #flat / 2
end
local paused_any = redis.call('SCARD', P .. 'paused') > 0
local out = {}
for i, q in ipairs(queues) do
  local h = redis.call('HGETALL', stats_key(q))
  local ready = 0
  for j = 1, #h, 2 do
    if h[j] == 'queued' then ready = tonumber(h[j + 1]) or 0 end
  end
  local by_type, more_types = ready_by_type(q)
  out[i] = {queue = q, ready = ready, dead = redis.call('ZCARD', dead_key(q)), stats = h,
            by_type = by_type, more_types = more_types}
  if paused_any and redis.call('SISMEMBER', P .. 'paused', q) == 1 then out[i].paused = true end
  local lc = limit_cfg(q)
  if lc then
    -- Leases counted against its concurrency cap, over every key value (up to 1,000 values).
    local held = 0
    if redis.call('HLEN', P .. 'lrun:' .. q) <= 1000 then
      for _, v in ipairs(redis.call('HVALS', P .. 'lrun:' .. q)) do held = held + tonumber(v) end
    end
    out[i].limit = lc.text
    out[i].limit_running = held
  end
end
return reply({items = out, next = next_after, known = redis.call('ZCARD', QUEUES)})
