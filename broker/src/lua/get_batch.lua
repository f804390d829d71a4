-- get_batch.lua: reads a batch's aggregate state and its name -> task id map.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {batch = batch id, owner ("" = any), cursor = names cursor ("0": the first page),
--  per_page = names per page}
-- The name map is read a page at a time (HSCAN), so one read of a 10,000-task batch never
-- holds Redis for long; the store reads page after page and assembles them.
-- Returns (msgpack): {} when unknown or owned by someone else than a non-empty owner, else
--   {hash = flat HGETALL of batch:<id>, names = flat name -> id pairs of this page (HSCAN of
--   batch:<id>:names: a name may repeat across pages), cp = critical path ms, next = next
--   names cursor ("0": this was the last page)}; critical path ms: the longest chain of recorded attempt durations through
--   the DAG, computed once the batch is over (0 while it runs: a walk over every task on
--   each read would hold Redis for ~20 ms per 10,000 tasks) and kept in the batch hash as `cp`.
--   batch:<id> fields: id, state (running|succeeded|partial|failed), total, created, finished,
--   n:<task state> counts, c:<cost> sums, b:<cost> budgets, budget_exceeded ("1"), onf (the
--   on_failure policy; absent: cancel_dependents), fid (the finally task's id; fspec, fq, ft,
--   fp: its spec until it is stored); the reply's hash adds fstate, that task's state, once
--   it is stored.
-- Writes only the `cp` cache field of a finished batch.

local b = A.batch or ''
local owner = A.owner or ''
if owner ~= '' and redis.call('HGET', batch_key(b), 'owner') ~= owner then return reply({}) end
local cursor = A.cursor or '0'
local per_page = tonumber(A.per_page) or 1000
local h = redis.call('HGETALL', batch_key(b))
if #h == 0 then return reply({}) end
local state, cached, fid = nil, nil, nil
for j = 1, #h, 2 do
  if h[j] == 'state' then
    state = h[j + 1]
  elseif h[j] == 'cp' then
    cached = h[j + 1]
  elseif h[j] == 'fid' then
    fid = h[j + 1]
  end
end
-- The finally task's state, read here (it is no member: nothing counts it in the hash).
if fid then
  local fst = redis.call('HGET', task_key(fid), 'state')
  if fst then
    h[#h + 1] = 'fstate'
    h[#h + 1] = fst
  end
end
local scan = redis.call('HSCAN', batch_key(b) .. ':names', cursor, 'COUNT', per_page)
local names, next_cursor = scan[2], scan[1]
local function page(cp) return reply({hash = h, names = names, cp = cp, next = next_cursor}) end
if state == 'running' or cursor ~= '0' then return page(0) end
if cached then return page(tonumber(cached)) end
-- Critical path: cp(task) = its duration + the longest cp among its parents (memoised).
local ids = redis.call('SMEMBERS', batch_key(b) .. ':tasks')
local dur, parents, cp = {}, {}, {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', task_key(id), 'res', 'spec')
  local d = 0
  if v[1] then
    local _, recorded = cmsgpack.unpack_limit(v[1], 1)
    d = tonumber(recorded) or 0
  end
  dur[id] = d
  parents[id] = v[2] and decode_spec({}, v[2]).parents or {}
end
local function path(id)
  if cp[id] then return cp[id] end
  local longest = 0
  for _, pid in ipairs(parents[id] or {}) do
    if dur[pid] then longest = math.max(longest, path(pid)) end
  end
  cp[id] = (dur[id] or 0) + longest
  return cp[id]
end
local critical = 0
for _, id in ipairs(ids) do critical = math.max(critical, path(id)) end
redis.call('HSET', batch_key(b), 'cp', fmt(critical))
return page(critical)
