-- enqueue.lua: adds tasks (one call carries many), optionally as one new batch.
--
-- KEYS: none (prefix in ARGV[1]; see prelude.lua for ARGV[1..7]).
-- ARGV[8]  max waiting tasks per queue (0: no cap; see check_queue_depth in prelude.lua)
-- ARGV[9]  batch id, or "" for independent tasks
-- ARGV[10] number of budget entries B, then B pairs (cost name, limit)
-- then     N, then N items of:
--   id, queue, type, name, payload, priority, max_attempts, backoff_base_ms, backoff_max_ms,
--   backoff_multiplier, backoff_jitter (0/1), timeout_ms, idempotency_key, not_before_ms,
--   owner (the submitter's CURVE key; "" = none), L, L pairs (label key, value), D, D parent ids
-- Owners (CURVE): a parent (depends_on) owned by another key than the item's owner is treated
--   as not stored (not_found, the same error as an id that does not exist: its child would
--   receive its output); idempotency keys are per owner (idem@<owner>:<key>), so one key's
--   resubmit never returns, nor blocks, another key's task. Owner "" (no CURVE): unchanged.
-- Writes: task:<id> hash; q:<queue>:<type> (ready) or delayed (not_before in the future) or
--   state blocked with deps:<parent> entries; idem:<key> or idem@<owner>:<key> (SET NX PX);
--   qindex (the queue),
--   types:<queue> (types now ready), stats:<queue> (submitted, gauges), qidle; with a batch:
--   batch:<id> hash (owner: its first item's), batch:<id>:tasks, batch:<id>:names.
-- Returns: {items, batches}; items[i] is one of
--   {"created", id, state}        state: queued | delayed | blocked | cancelled (a parent had
--                                  already failed or been cancelled: reason dependency_failed)
--   {"duplicate", id, state}      the idempotency key was seen: id is the original task
--   {"error", id, code, message}  code: conflict (id exists) | not_found (unknown parent)
--   batches: {{batch id, flat HGETALL of batch:<id>}, ...}
-- Errors (batch calls are all-or-nothing, nothing is written):
--   TM_QUEUE_FULL a queue would hold more than ARGV[8] waiting tasks (any call);
--   TM_CONFLICT the batch or a task id exists; TM_NOT_FOUND a parent is neither stored nor
--   earlier in the call; TM_INVALID_ARGUMENT malformed arguments.

local max_depth = argn()
local batch = arg()
local budget = {}
local nbudget = argn()
for _ = 1, nbudget do
  local k = arg()
  budget[#budget + 1] = {k, arg()}
end
local n = argn()
if not n then return redis.error_reply('TM_INVALID_ARGUMENT missing item count') end

local items = {}
for i = 1, n do
  local it = {id = arg(), queue = arg(), type = arg(), name = arg(), payload = arg(),
              prio = arg(), max_att = arg(), b_base = arg(), b_max = arg(), b_mult = arg(),
              b_jit = arg(), timeout = arg(), idem = arg(), nbf = arg(), owner = arg()}
  local labels = {}
  for _ = 1, argn() do
    labels[#labels + 1] = 'l:' .. arg()
    labels[#labels + 1] = arg()
  end
  it.labels = labels
  local deps = {}
  for _ = 1, argn() do deps[#deps + 1] = arg() end
  it.deps = deps
  if not it.owner then return redis.error_reply('TM_INVALID_ARGUMENT item ' .. i .. ' truncated') end
  if it.idem ~= '' then
    it.idem_key = it.owner == '' and P .. 'idem:' .. it.idem or
        P .. 'idem@' .. it.owner .. ':' .. it.idem
  end
  items[i] = it
end

-- Validation pass: in a batch, any problem rejects the whole call before a single write.
local full = check_queue_depth(items, max_depth, batch)
if full then return full end
local in_call = {}
local item_error = {}
for i, it in ipairs(items) do
  if redis.call('EXISTS', task_key(it.id)) == 1 or in_call[it.id] then
    item_error[i] = {'conflict', 'task id ' .. it.id .. ' exists'}
  else
    for _, d in ipairs(it.deps) do
      -- Another key's task is as unknown as one that does not exist.
      if not in_call[d] and (redis.call('EXISTS', task_key(d)) == 0 or
          (it.owner ~= '' and redis.call('HGET', task_key(d), 'owner') ~= it.owner)) then
        item_error[i] = {'not_found', 'parent task ' .. d .. ' not found'}
        break
      end
    end
  end
  if batch ~= '' and item_error[i] then
    local code = string.upper(item_error[i][1])
    return redis.error_reply('TM_' .. code .. ' ' .. item_error[i][2])
  end
  if not item_error[i] then in_call[it.id] = true end
end

if batch ~= '' then
  local bk = batch_key(batch)
  if redis.call('EXISTS', bk) == 1 then
    return redis.error_reply('TM_CONFLICT batch ' .. batch .. ' exists')
  end
  redis.call('HSET', bk, 'id', batch, 'state', 'running', 'total', n, 'created', NOW_S)
  if items[1] and items[1].owner ~= '' then redis.call('HSET', bk, 'owner', items[1].owner) end
  for _, b in ipairs(budget) do redis.call('HSET', bk, 'b:' .. b[1], b[2]) end
end

local out = {}
local seen_queue = {}
local ready_adds, ready_order = {}, {}  -- ready zset -> {score, id, ...}, written at the end
local ready_type = {}                   -- ready zset -> {queue, type}
for i, it in ipairs(items) do
  local dup = nil
  if batch == '' and it.idem ~= '' then
    local ik = it.idem_key
    dup = redis.call('GET', ik)
    if not dup and not item_error[i] then
      redis.call('SET', ik, it.id, 'PX', fmt(IDEM_TTL))
    end
  end
  if dup then
    out[i] = {'duplicate', dup, redis.call('HGET', task_key(dup), 'state') or ''}
  elseif item_error[i] then
    out[i] = {'error', it.id, item_error[i][1], item_error[i][2]}
  else
    if not seen_queue[it.queue] then
      seen_queue[it.queue] = true
      redis.call('ZADD', QUEUES, '0', it.queue)
      touch_queue(it.queue)
    end
    bump(stats_key(it.queue), 'submitted', 1)
    if batch ~= '' then
      redis.call('SADD', batch_key(batch) .. ':tasks', it.id)
      if it.name ~= '' then redis.call('HSET', batch_key(batch) .. ':names', it.name, it.id) end
    end
    -- Parents: succeeded ones are satisfied; a failed or cancelled one dooms the child.
    local pending, doomed = 0, false
    for _, d in ipairs(it.deps) do
      local dk = task_key(d)
      local ps = redis.call('HGET', dk, 'state')
      if ps == 'failed' or ps == 'cancelled' then
        doomed = true
      elseif ps ~= 'succeeded' then
        pending = pending + 1
        redis.call('SADD', deps_key(d), it.id)
        redis.call('HSET', dk, 'kids', '1')
      end
    end
    -- One HSET writes the whole task, its state included.
    local state
    -- Fields that would hold their default ('' or 0) are left out: every reader treats a
    -- missing field as its default, and each field costs Redis and Lua work on every read.
    local f = {'id', it.id, 'queue', it.queue, 'type', it.type, 'payload', it.payload,
               'prio', it.prio, 'max_att', it.max_att, 'timeout', it.timeout, 'created', NOW_S,
               'bo', it.b_base .. ',' .. it.b_max .. ',' .. it.b_mult .. ',' .. it.b_jit}
    if it.name ~= '' then
      f[#f + 1] = 'name'
      f[#f + 1] = it.name
    end
    if batch ~= '' then
      f[#f + 1] = 'batch'
      f[#f + 1] = batch
    end
    if it.idem ~= '' then
      f[#f + 1] = 'idem'
      f[#f + 1] = it.idem
    end
    if it.owner ~= '' then
      f[#f + 1] = 'owner'
      f[#f + 1] = it.owner
    end
    if it.nbf ~= '0' and it.nbf ~= '' then
      f[#f + 1] = 'nbf'
      f[#f + 1] = it.nbf
    end
    if #it.labels > 0 then
      f[#f + 1] = 'nl'
      f[#f + 1] = fmt(#it.labels / 2)
    end
    if #it.deps > 0 then
      f[#f + 1] = 'parents'
      f[#f + 1] = table.concat(it.deps, ',')
    end
    local nbf = tonumber(it.nbf) or 0
    if doomed then
      state = 'cancelled'
      for _, v in ipairs({'reason', 'dependency_failed', 'finished', NOW_S}) do f[#f + 1] = v end
    elseif pending > 0 then
      state = 'blocked'
      f[#f + 1] = 'pending'
      f[#f + 1] = fmt(pending)
    elseif nbf > NOW then
      state = 'delayed'
      f[#f + 1] = 'ready_at'
      f[#f + 1] = fmt(nbf)
      redis.call('ZADD', DELAYED, fmt(nbf), it.id)
    else
      state = 'queued'
      local rk = ready_key(it.queue, it.type)
      push_keyed(ready_adds, ready_order, rk, ready_score(it.prio), it.id)
      ready_type[rk] = {it.queue, it.type}
    end
    f[#f + 1] = 'state'
    f[#f + 1] = state
    for _, v in ipairs(it.labels) do f[#f + 1] = v end
    redis.call('HSET', task_key(it.id), unpack(f))
    local t = {id = it.id, state = state, queue = it.queue, batch = batch, hist = ''}
    count_state(t, '', state)
    if doomed then
      bump(stats_key(it.queue), 'cancelled', 1)
      expire_finished(t)
    end
    out[i] = {'created', it.id, state}
  end
end

-- One ZADD per ready zset for the whole call, not one per task; its type joins the queue's
-- type set (which lists exactly the types with ready tasks: prune_type in prelude.lua).
for _, rk in ipairs(ready_order) do
  call_chunked('ZADD', rk, ready_adds[rk])
  redis.call('SADD', types_key(ready_type[rk][1]), ready_type[rk][2])
end

return finish({out, batch_snapshots()})
