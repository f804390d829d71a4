-- finish.lua: records the outcome of attempts (worker DONE messages), success or failure.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] worker id (the registered sender; "" matches no lease), ARGV[9] N,
--   then N items of:
--   task id, token, ok (1/0), output, exit_code ("" = none), stdout, stderr, duration_ms,
--   error code, error message, retryable (1/0), C, C pairs (cost name, amount)
-- Accepted only if the task is running, token equals its live lease's token and the lease is
--   the worker's (never for worker ""); otherwise
--   stats:<queue>.stale is counted and nothing is recorded.
-- Success: output/exit/stdout/stderr/duration/worker recorded, state succeeded, TTL set;
--   blocked dependents whose parents have all succeeded are released (ready or delayed).
-- Failure: the attempt's output/exit/stdout/stderr/duration are recorded too (the latest
--   attempt's, whatever its outcome); then see fail_attempt (prelude.lua): retry at now + backoff(attempt) with jitter drawn
--   from ARGV[5]; or dead letter (dead:<queue>, history in hist:<id>) and descendants
--   cancelled with reason dependency_failed; a task whose cancel was requested ends cancelled.
-- Costs (accepted items, success or failure) are summed into the task, stats:<queue> and the
--   batch; if a batch total crosses its budget, the batch's queued, delayed and blocked tasks
--   are cancelled with reason budget_exceeded (listed in that item's cancelled ids and its
--   budget ids), then their dependents outside the batch with dependency_failed.
-- Returns: {items, batches}; items[i] = {status, id, queue, batch, ready_at_ms, attempt,
--   released ids, cancelled ids[, summary[, budget ids]]}; status: succeeded | retry | dead |
--   cancelled | stale | not_found. summary (succeeded first attempts without history only,
--   else {} when budget ids follow): {type, name,
--   prio, max_att, created, started, worker, finished}: with the DONE, the whole task.
--   budget ids (only when this item crossed the budget): the cancelled ids whose reason is
--   budget_exceeded, so the batch events say what GET says.
--   batches: {{batch id, flat HGETALL of batch:<id>}, ...}

-- A first attempt with no history: the task has recorded nothing before this DONE.
local function first_attempt(t) return t.att == '1' and t.hist ~= '1' end

-- Adds an attempt's costs everywhere; returns true if its batch just crossed its budget.
-- With `fields` (a first attempt's: the task holds no costs yet), the task's totals are
-- appended there for the caller's HSET instead of being incremented one by one.
local function add_costs(t, costs, fields)
  if #costs == 0 then return false end
  local bk = t.batch ~= '' and batch_key(t.batch) or nil
  local tk = task_key(t.id)
  local sk = stats_key(t.queue)
  for _, c in ipairs(costs) do
    if fields then
      fields[#fields + 1] = 'c:' .. c[1]
      fields[#fields + 1] = c[2]
    else
      redis.call('HINCRBYFLOAT', tk, 'c:' .. c[1], c[2])
    end
    bumpf(sk, 'c:' .. c[1], tonumber(c[2]))
    if bk then redis.call('HINCRBYFLOAT', bk, 'c:' .. c[1], c[2]) end
  end
  if not bk then return false end
  touch_batch(t.batch)
  if redis.call('HGET', bk, 'budget_exceeded') == '1' then return false end
  for _, c in ipairs(costs) do
    local v = redis.call('HMGET', bk, 'b:' .. c[1], 'c:' .. c[1])
    if v[1] and tonumber(v[2]) > tonumber(v[1]) then
      redis.call('HSET', bk, 'budget_exceeded', '1')
      return true
    end
  end
  return false
end

-- Every unstarted member first, so each of them is recorded budget_exceeded whatever the
-- member order (a cascade from one member must not reach another member before it does).
local function cancel_rest_of_batch(b, out, budget)
  local gone = {}
  for _, id in ipairs(redis.call('SMEMBERS', batch_key(b) .. ':tasks')) do
    local m = load(id)
    if m and cancel_now(m, 'budget_exceeded') then
      out[#out + 1] = id
      budget[#budget + 1] = id
      gone[#gone + 1] = m
    end
  end
  -- Tasks outside the batch that depend on it can never run now either.
  for _, m in ipairs(gone) do
    for _, cid in ipairs(cascade(m, 'dependency_failed')) do out[#out + 1] = cid end
  end
end

local function succeed(t, it, fields)
  local id = t.id
  local f = {'output', it.output, 'exit', it.exit, 'stdout', it.stdout, 'stderr', it.stderr,
             'dur', it.dur, 'finished', NOW_S}
  for _, v in ipairs(fields) do f[#f + 1] = v end
  set_state(t, 'succeeded', f)
  if t.err_code ~= '' then redis.call('HDEL', task_key(id), 'err_code', 'err_msg', 'err_retry') end
  bump(stats_key(t.queue), 'succeeded', 1)
  expire_finished(t)
  local released = {}
  if t.kids == '1' then
    local dk = deps_key(id)
    for _, cid in ipairs(redis.call('SMEMBERS', dk)) do
      local c = load(cid)
      if c and c.state == 'blocked' then
        if redis.call('HINCRBY', task_key(cid), 'pending', -1) <= 0 then
          release(c)
          released[#released + 1] = cid
        end
      end
    end
    redis.call('DEL', dk)
  end
  local item = {'succeeded', id, t.queue, t.batch, 0, tonumber(t.att) or 0, released, {}}
  -- A first attempt with no history: the broker holds everything else the task's RESULT
  -- needs (this DONE is its only output and cost), so it need not read the task back.
  if first_attempt(t) then
    item[9] = {t.type, t.name, t.prio, t.max_att, t.created, t.started, t.worker, NOW_S}
  end
  return item
end

local worker = arg()
local n = argn()
local out = {}
for i = 1, n do
  local it = {id = arg(), token = arg(), ok = arg(), output = arg(), exit = arg(),
              stdout = arg(), stderr = arg(), dur = arg(), code = arg(), msg = arg(),
              retry = arg()}
  local costs = {}
  for _ = 1, argn() do
    local k = arg()
    costs[#costs + 1] = {k, arg()}
  end
  local t = load(it.id)
  if not t then
    out[i] = {'not_found', it.id, '', '', 0, 0, {}, {}}
  elseif t.state ~= 'running' or t.tok ~= it.token or worker == '' or t.worker ~= worker then
    bump(stats_key(t.queue), 'stale', 1)
    out[i] = {'stale', it.id, t.queue, t.batch, 0, tonumber(t.att) or 0, {}, {}}
  else
    remove_lease(t)
    local ok = it.ok == '1'
    local fields = (ok and first_attempt(t)) and {} or nil
    local crossed = add_costs(t, costs, fields)
    if ok then
      out[i] = succeed(t, it, fields or {})
    else
      -- The failed attempt's exit code and output are what a user debugs with: keep them.
      redis.call('HSET', task_key(t.id), 'output', it.output, 'exit', it.exit,
                 'stdout', it.stdout, 'stderr', it.stderr, 'dur', it.dur)
      out[i] = fail_attempt(t, it.code, it.msg, it.retry == '1')
    end
    if crossed then
      local budget = {}
      cancel_rest_of_batch(t.batch, out[i][8], budget)
      out[i][9] = out[i][9] or {}
      out[i][10] = budget
    end
  end
end

return finish({out, batch_snapshots()})
