-- layout_v2_v3.lua: one chunk of the migration from layout 2 to layout 3.
--
-- Layout 2: every idempotency key at idem:<key>, whoever submitted its task.
-- Layout 3: a key of a task with an owner (its submitter's CURVE key) at idem@<owner>:<key>,
-- so two keys never share or block one another's idempotency keys (docs/security.md); tasks
-- without an owner (no CURVE) keep idem:<key>.
--
-- KEYS[1], ARGV[1]: see prelude.lua; prefix is read. ARGV[2]: a msgpack map:
-- {token = lock token, ttl = lock TTL ms, budget}: budget = idempotency keys looked at in
--   this call (SCAN asks for at least 100 at a time: reading a key name is cheap).
-- Progress (the SCAN cursor) lives in <prefix>layout:mig3, written in the same atomic call as
-- the keys it moved, so a broker that dies between calls leaves a state the next call
-- continues from (SCAN returns every key present for the whole scan at least once; a key
-- seen twice is moved once, since the second time its old name is gone).
-- Each idem:<key> whose task hash names an owner is RENAMEd (its TTL goes with it) to
-- idem@<owner>:<key>, unless that key exists already (a submit by the new broker won the
-- race: the old key is dropped). Keys whose task is gone or has no owner stay.
-- Returns: {'lost'} when the lock is not this token's (nothing written); else {'more' | 'done',
--   keys moved under their owner, keys left as they were}.

local LAYOUT = P .. 'layout'
local LOCK = P .. 'layout:lock'
local MIG = P .. 'layout:mig3'
local token = A.token or ''
local ttl = fmt(tonumber(A.ttl) or 0)
local budget = math.max(1, tonumber(A.budget) or 1)

if redis.call('GET', LOCK) ~= token then return {'lost'} end
redis.call('PEXPIRE', LOCK, ttl)

-- The prefix is the operator's; escape what SCAN's MATCH would read as a pattern.
local pattern = (P .. 'idem:'):gsub('[%*%?%[%]\\]', '\\%0') .. '*'
local old = P .. 'idem:'
local cursor = redis.call('HGET', MIG, 'cursor') or '0'
local moved, kept = 0, 0
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', math.max(budget, 100))
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local id = redis.call('GET', k)
    local owner = id and redis.call('HGET', task_key(id), 'owner')
    if owner and owner ~= '' then
      local to = P .. 'idem@' .. owner .. ':' .. string.sub(k, #old + 1)
      if redis.call('EXISTS', to) == 0 then
        redis.call('RENAME', k, to)
      else
        redis.call('DEL', k)
      end
      moved = moved + 1
    else
      kept = kept + 1
    end
  end
  budget = budget - math.max(1, #r[2])
until cursor == '0' or budget <= 0

redis.call('HINCRBY', MIG, 'moved', moved)
redis.call('HINCRBY', MIG, 'kept', kept)
local c = redis.call('HMGET', MIG, 'moved', 'kept')
local counts = {tonumber(c[1]) or 0, tonumber(c[2]) or 0}
if cursor == '0' then
  redis.call('SET', LAYOUT, '3')
  redis.call('DEL', MIG)  -- the lock stays: layout_probe.lua releases it
  return finish({'done', counts[1], counts[2]})
end
redis.call('HSET', MIG, 'cursor', cursor)
return finish({'more', counts[1], counts[2]})
