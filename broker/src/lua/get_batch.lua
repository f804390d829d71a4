-- get_batch.lua: reads a batch's aggregate state and its name -> task id map.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] batch id   ARGV[9] owner ("" = any)
-- Returns: {} when unknown or owned by someone else than a non-empty ARGV[9], else {flat HGETALL of batch:<id>, flat HGETALL of batch:<id>:names,
--   critical path ms}: the longest chain of recorded attempt durations through the DAG.
--   batch:<id> fields: id, state (running|succeeded|partial|failed), total, created, finished,
--   n:<task state> counts, c:<cost> sums, b:<cost> budgets, budget_exceeded ("1").
-- Read only.

local b = arg()
local owner = arg() or ''
if owner ~= '' and redis.call('HGET', batch_key(b), 'owner') ~= owner then return finish({}) end
local h = redis.call('HGETALL', batch_key(b))
if #h == 0 then return finish({}) end
-- Critical path: cp(task) = its duration + the longest cp among its parents (memoised).
local ids = redis.call('SMEMBERS', batch_key(b) .. ':tasks')
local dur, parents, cp = {}, {}, {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', task_key(id), 'dur', 'parents')
  dur[id] = tonumber(v[1]) or 0
  parents[id] = v[2] or ''
end
local function path(id)
  if cp[id] then return cp[id] end
  local longest = 0
  for pid in string.gmatch(parents[id] or '', '[^,]+') do
    if dur[pid] then longest = math.max(longest, path(pid)) end
  end
  cp[id] = (dur[id] or 0) + longest
  return cp[id]
end
local critical = 0
for _, id in ipairs(ids) do critical = math.max(critical, path(id)) end
return finish({h, redis.call('HGETALL', batch_key(b) .. ':names'), critical})
