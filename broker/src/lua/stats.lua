-- stats.lua: per-queue depths and counters, one page at a time.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {queues = queue names}; with no queues the known queues (qindex) are paged by name:
--   {after = the last name of the previous page, exclusive ("" = from the start), limit}.
-- Returns (msgpack): {items, next, known}: items[i] = {queue, ready = depth (the queued
--   gauge), dead = depth (ZCARD dead:<queue>), stats = flat HGETALL of stats:<queue>};
--   next = the name to pass as `after` for the next page ("" = this was the last);
--   known = ZCARD qindex.
--   stats fields: submitted, succeeded, failed, retried, cancelled, stale (counters);
--   queued, blocked, delayed, running (gauges); c:<cost> (summed costs).
-- Each queue costs O(1) (plus its counter fields): no walk over its task types.
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
local out = {}
for i, q in ipairs(queues) do
  local h = redis.call('HGETALL', stats_key(q))
  local ready = 0
  for j = 1, #h, 2 do
    if h[j] == 'queued' then ready = tonumber(h[j + 1]) or 0 end
  end
  out[i] = {queue = q, ready = ready, dead = redis.call('ZCARD', dead_key(q)), stats = h}
end
return reply({items = out, next = next_after, known = redis.call('ZCARD', QUEUES)})
