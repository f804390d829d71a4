-- stats.lua: per-queue depths and counters.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] Q, then Q queue names (Q = 0: every queue ever used, from the queues set)
-- Returns: items[i] = {queue, ready depth (sum of ZCARD q:<queue>:<type>), dead depth
--   (ZCARD dead:<queue>), flat HGETALL of stats:<queue>}
--   stats fields: submitted, succeeded, failed, retried, cancelled, stale (counters);
--   blocked, delayed, running (gauges); c:<cost> (summed costs).
-- Read only.

local queues = {}
for _ = 1, argn() do queues[#queues + 1] = arg() end
if #queues == 0 then
  queues = redis.call('SMEMBERS', QUEUES)
  table.sort(queues)
end
local out = {}
for i, q in ipairs(queues) do
  local ready = 0
  for _, ty in ipairs(redis.call('SMEMBERS', types_key(q))) do
    ready = ready + redis.call('ZCARD', ready_key(q, ty))
  end
  out[i] = {q, ready, redis.call('ZCARD', dead_key(q)), redis.call('HGETALL', stats_key(q))}
end
return finish(out)
