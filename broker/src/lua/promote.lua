-- promote.lua: moves delayed tasks that are due to their ready queues.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {limit = max tasks to promote in this call}
-- Each due member of delayed: removed; if the task is still delayed it joins
--   q:<queue>:<type> behind everything already ready at its priority.
-- Also forgets up to 100 queues idle for longer than the retention (prune_idle_queues) and
-- ages out the finished tasks of up to 10 queues, round robin (sweep_done).
-- Before that, up to `limit` members of expiring past their deadline: each task still never
--   started (queued, delayed, blocked) ends expired (lib/prelude.lua expire_task), and its
--   batch's on_failure acts as for a task that died (expiry_item).
-- Returns (msgpack): {count = promoted, queues = names of queues that got tasks,
--   next = next due ms (-1: none), batches, exp (absent: none) = the expired tasks' items as
--   claim.lua's}

local limit = tonumber(A.limit) or 0
-- First, tasks past their start deadline (issue 22) end expired, whatever their state (queued,
-- delayed, blocked): a due delayed task past its deadline expires rather than becoming ready.
-- O(log n) per expired task: expiring is a zset scored by the deadline. A member that started
-- meanwhile (claim removes it; a stale one is tolerated) only leaves the index.
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', EXPIRING, '-inf', NOW_S, 'LIMIT', 0, limit)) do
  redis.call('ZREM', EXPIRING, id)
  local t = load(id)
  -- Its batch's on_failure acts at once (expiry_item): this loop reads no ready zset, and a
  -- member a fail_fast expiry cancelled is no longer expirable when its own turn comes.
  if t and expire_task(t, true) then expired[#expired + 1] = expiry_item(t) end
end
local ids = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', NOW_S, 'LIMIT', 0, limit)
local count = 0
local queues, seen = {}, {}
for _, id in ipairs(ids) do
  redis.call('ZREM', DELAYED, id)
  local t = load(id)
  if t and t.state == 'delayed' then
    push_ready(t)
    count = count + 1
    if not seen[t.queue] then
      seen[t.queue] = true
      queues[#queues + 1] = t.queue
    end
  end
end
-- Housekeeping on the promote timer: queues idle past the retention are forgotten, finished
-- tasks past it deleted.
prune_idle_queues(100)
sweep_done(10)
local nxt = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
local next_due = -1
if #nxt > 0 then next_due = tonumber(nxt[2]) end
return reply({count = count, queues = queues, next = next_due, batches = batch_snapshots(),
              exp = #expired > 0 and expired or nil})
