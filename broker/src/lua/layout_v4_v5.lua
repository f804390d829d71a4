-- layout_v4_v5.lua: one chunk of the migration from layout 4 to layout 5.
--
-- Layout 4: a finished (succeeded or cancelled) task expires by a TTL of its own (PEXPIRE
--   retention); with a count cap (finished_max) it also joins done:<queue>, a zset scored by
--   finish time, trimmed from the lowest score.
-- Layout 5: done:<queue> is a list in finish order (RPUSH), and the trim that enforces the
--   count cap also deletes the tasks older than the retention (prelude.lua, trim_done): no TTL
--   per finished task. Dead letters are unchanged (dead:<queue> and their TTL).
--   A running task's fencing token lives only in wl:<worker> (a hash task id -> token, which
--   replaces the set wleases:<worker>); the task hash has no tok field.
-- The step turns every done:<queue> zset into a list in score order (phase 1), then every
-- wleases:<worker> set into wl:<worker>, moving each running task's tok there (phase 2). Tasks finished under
-- layout 4 keep their TTL and expire by it (trim_done drops an entry whose task is gone), so
-- none is left without a bound; those finished without a count cap are in no list.
--
-- KEYS[1], ARGV[1]: see prelude.lua (prefix is read). ARGV[2]: a msgpack map:
-- {token = lock token, ttl = lock TTL ms, budget}: budget = list entries moved in this call.
-- Progress lives in <prefix>layout:mig5 (after = the last queue whose zset was taken, cur = the
-- queue being moved, its zset renamed to <prefix>layout:mig5:done), written in the same atomic
-- call as the entries it moved, so a broker that dies between calls leaves a state the next
-- call continues from: an entry is in the zset or in the list, never both, never neither.
-- Phase 2 SCANs wleases:* (cursor `lcur` in layout:mig5, `phase` = 'leases'); each set is
--   converted whole in one call (a worker's leases are bounded by its concurrency) and then
--   deleted, so a set seen twice by SCAN is gone the second time.
-- Returns: {'lost'} when the lock is not this token's (nothing written); else {'more' | 'done',
--   finished-task lists made, entries moved, running tasks whose token moved}.

local LAYOUT = P .. 'layout'
local LOCK = P .. 'layout:lock'
local MIG = P .. 'layout:mig5'
local TMP = P .. 'layout:mig5:done'
local token = A.token or ''
local ttl = fmt(tonumber(A.ttl) or 0)
local budget = math.max(1, tonumber(A.budget) or 1)

if redis.call('GET', LOCK) ~= token then return {'lost'} end
redis.call('PEXPIRE', LOCK, ttl)

local lists, moved, fenced = 0, 0, 0
local finished = false
local phase = redis.call('HGET', MIG, 'phase') or 'done'
while phase == 'done' and budget > 0 do
  local q = redis.call('HGET', MIG, 'cur')
  if not q then
    local after = redis.call('HGET', MIG, 'after')
    local nxt = redis.call('ZRANGEBYLEX', QUEUES, after and ('(' .. after) or '-', '+',
                           'LIMIT', 0, 1)
    if #nxt == 0 then
      phase = 'leases'
      redis.call('HSET', MIG, 'phase', phase)
      break
    end
    q = nxt[1]
    redis.call('HSET', MIG, 'after', q)
    budget = budget - 1
    if redis.call('TYPE', done_key(q)).ok == 'zset' then
      redis.call('DEL', TMP)
      redis.call('RENAME', done_key(q), TMP)
      redis.call('HSET', MIG, 'cur', q)
      lists = lists + 1
    else
      q = nil
    end
  end
  if q then
    local ids = redis.call('ZRANGE', TMP, 0, budget - 1)
    if #ids > 0 then
      call_chunked('RPUSH', done_key(q), ids)
      redis.call('ZREMRANGEBYRANK', TMP, 0, #ids - 1)
      moved = moved + #ids
      budget = budget - #ids
    end
    if redis.call('EXISTS', TMP) == 0 then redis.call('HDEL', MIG, 'cur') end
  end
end

-- The prefix is the operator's; escape what SCAN's MATCH would read as a pattern.
local pattern = (P .. 'wleases:'):gsub('[%*%?%[%]\\]', '\\%0') .. '*'
local plen = #P + #'wleases:'
while phase == 'leases' and budget > 0 do
  local r = redis.call('SCAN', redis.call('HGET', MIG, 'lcur') or '0', 'MATCH', pattern,
                       'COUNT', math.max(budget, 100), 'TYPE', 'set')
  for _, k in ipairs(r[2]) do
    local worker = string.sub(k, plen + 1)
    local ids = redis.call('SMEMBERS', k)
    for _, id in ipairs(ids) do
      local v = redis.call('HMGET', task_key(id), 'state', 'worker', 'tok')
      if v[1] == 'running' and v[2] == worker and v[3] then
        redis.call('HSET', wleases_key(worker), id, v[3])
        fenced = fenced + 1
      end
      if v[3] then redis.call('HDEL', task_key(id), 'tok') end
    end
    redis.call('DEL', k)
    budget = budget - math.max(1, #ids)
  end
  budget = budget - 1
  redis.call('HSET', MIG, 'lcur', r[1])
  if r[1] == '0' then
    finished = true
    break
  end
end

redis.call('HINCRBY', MIG, 'lists', lists)
redis.call('HINCRBY', MIG, 'moved', moved)
redis.call('HINCRBY', MIG, 'fenced', fenced)
local c = redis.call('HMGET', MIG, 'lists', 'moved', 'fenced')
local counts = {tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0}
if finished then
  redis.call('SET', LAYOUT, '5')
  redis.call('DEL', MIG, TMP)  -- the lock stays: layout_probe.lua releases it
  return finish({'done', counts[1], counts[2], counts[3]})
end
return finish({'more', counts[1], counts[2], counts[3]})
