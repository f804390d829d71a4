-- layout_v1_v2.lua: one chunk of the migration from layout 1 to layout 2.
--
-- Layout 1 (up to commit 56a6702): the set `queues` of every queue ever used; `types:<queue>`
-- every type ever submitted to it; no `queued` gauge (ready depth = sum of ZCARDs).
-- Layout 2: the zset `qindex` (+ `qidle` for queues that hold nothing), `types:<queue>` only
-- the types with ready tasks, stats:<queue>.queued = tasks in its ready zsets.
--
-- KEYS[1], ARGV[1]: see prelude.lua; prefix and now are read. ARGV[2]: a msgpack map:
-- {token = lock token, ttl = lock TTL ms, budget}: budget = units of work in this call
--   (a queue, a type, a lease), so no call holds Redis for long.
-- Progress lives in <prefix>layout:mig (hash), written in the same atomic call as the work it
-- records, so a broker that dies between calls leaves a state the next call continues from:
--   phase 'queues': SPOP a queue from `queues` into qindex (field q = that queue); then SPOP its
--     types a budget at a time, keeping those with ready tasks in <prefix>layout:mig:types and
--     summing their ZCARDs (field acc); once its type set is empty the kept set replaces it,
--     stats:<queue>.queued = acc and the queue is filed active or idle (qidle).
--   phase 'leases': every running task (member of `leases`) keeps its fencing token; a task
--     hash without `tok` (a store older than tokens) gets tok = att, the token its worker holds.
--   then: <prefix>layout = 2, the progress hash deleted (the lock stays: layout_probe.lua
--   releases it once the store is current).
-- Returns: {'lost'} when the lock is not this token's (nothing written); else {'more' | 'done',
--   queues, types kept, types dropped, queued tasks counted, running tasks given a token}.

local LAYOUT = P .. 'layout'
local LOCK = P .. 'layout:lock'
local MIG = P .. 'layout:mig'
local KEPT = MIG .. ':types'
local OLD_QUEUES = P .. 'queues'
local token = A.token or ''
local ttl = fmt(tonumber(A.ttl) or 0)
local budget = math.max(1, tonumber(A.budget) or 1)

if redis.call('GET', LOCK) ~= token then return {'lost'} end
redis.call('PEXPIRE', LOCK, ttl)
redis.call('HSETNX', MIG, 'phase', 'queues')

local phase = redis.call('HGET', MIG, 'phase')
while budget > 0 and phase ~= 'done' do
  if phase == 'queues' then
    local q = redis.call('HGET', MIG, 'q')
    if not q then
      local popped = redis.call('SPOP', OLD_QUEUES)
      if popped then
        redis.call('ZADD', QUEUES, '0', popped)
        redis.call('DEL', KEPT)
        redis.call('HSET', MIG, 'q', popped, 'acc', '0')
        redis.call('HINCRBY', MIG, 'queues', 1)
      else
        phase = 'leases'
        redis.call('HSET', MIG, 'phase', phase, 'lpos', '0')
      end
    else
      local tys = redis.call('SPOP', types_key(q), budget)
      local acc, kept = 0, 0
      for _, ty in ipairs(tys) do
        local n = redis.call('ZCARD', ready_key(q, ty))
        if n > 0 then
          redis.call('SADD', KEPT, ty)
          acc = acc + n
          kept = kept + 1
        end
      end
      budget = budget - #tys
      redis.call('HINCRBY', MIG, 'acc', acc)
      redis.call('HINCRBY', MIG, 'queued', acc)
      redis.call('HINCRBY', MIG, 'kept', kept)
      redis.call('HINCRBY', MIG, 'dropped', #tys - kept)
      if redis.call('EXISTS', types_key(q)) == 0 then
        if redis.call('EXISTS', KEPT) == 1 then redis.call('RENAME', KEPT, types_key(q)) end
        redis.call('HSET', stats_key(q), 'queued', redis.call('HGET', MIG, 'acc'))
        touch_queue(q)
        redis.call('HDEL', MIG, 'q', 'acc')
      end
    end
  else  -- leases
    local pos = tonumber(redis.call('HGET', MIG, 'lpos'))
    local ids = redis.call('ZRANGE', LEASES, pos, pos + budget - 1)
    local fenced = 0
    for _, id in ipairs(ids) do
      local h = redis.call('HMGET', task_key(id), 'tok', 'att')
      if not h[1] and h[2] then
        redis.call('HSET', task_key(id), 'tok', h[2])
        fenced = fenced + 1
      end
    end
    redis.call('HINCRBY', MIG, 'fenced', fenced)
    budget = budget - #ids
    if #ids == 0 then
      phase = 'done'
    else
      redis.call('HSET', MIG, 'lpos', fmt(pos + #ids))
    end
  end
  budget = budget - 1
end

local c = redis.call('HMGET', MIG, 'queues', 'kept', 'dropped', 'queued', 'fenced')
local counts = {}
for i = 1, 5 do counts[i] = tonumber(c[i]) or 0 end
if phase == 'done' then
  redis.call('SET', LAYOUT, '2')
  redis.call('DEL', MIG, KEPT, OLD_QUEUES)  -- the lock stays: layout_probe.lua releases it
  return finish({'done', counts[1], counts[2], counts[3], counts[4], counts[5]})
end
return finish({'more', counts[1], counts[2], counts[3], counts[4], counts[5]})
