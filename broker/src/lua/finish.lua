-- finish.lua: records the outcome of attempts (worker DONE messages), success or failure.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2], a msgpack map (store_args.cc, FinishArgs):
--   groups  {{worker, items}, ...}: the DONEs of several workers, recorded in order;
--     worker  the registered sender ("" matches no lease)
--     items   {{id, tok (decimal string), ok (bool), res (the attempt's result, encoded by the
--             broker: record.lua), code, msg, retry (bool: the error's), costs {name =
--             amount as a decimal string}, aw, ctok}, ...}; a success without an error leaves
--             out code, msg and retry, and any item without costs leaves out costs
--     aw      (a DONE ending its attempt as awaiting) {h = SHA-256 hex of the completion
--             token, ms = how long it may wait from now, 0 = no deadline}: state awaiting
--             (lease removed, costs summed, ctok = h, joins <prefix>awaiting when at > 0);
--             item status awaiting, at = the deadline; a task whose cancel was requested
--             while it ran ends cancelled instead
--     poll    (a DONE asking to be checked again) {ms = delay, st = state value, max = the
--             most its checks may wait in all}: the task goes to the delayed set for ms
--             (lease removed, costs summed, att back by one so the check uses no attempt,
--             pstate = st handed to the next TASK, psince = when the first check parked it);
--             status poll, at = when it is due. Past max: the attempt fails as
--             poll_expired (retryable), as does a cancel requested meanwhile (cancelled)
--     ctok    (a COMPLETE; only in a group of worker "": no lease is involved) SHA-256 of the
--             token it presented: accepted only if the task is awaiting and ctok equals its
--             stored ctok (else status not_awaiting, with st = its state, or bad_token;
--             nothing changes); the wait ends (ctok deleted, out of <prefix>awaiting) and
--             the item is then recorded exactly as a DONE (success or failure, costs summed)
-- Accepted only if the task is running, tok equals its live lease's token and the lease is
--   its group's worker's (never for worker ""): the tokens of a group's items are read from
--   wl:<worker> in one HMGET (per 1,000 items); otherwise stats:<queue>.stale is counted and
--   nothing is recorded.
-- Success: res recorded as it came, state succeeded, finished (one HSET), joins done:<queue>; blocked
--   dependents whose parents have all succeeded are released (ready or delayed).
-- Failure: the attempt's res is recorded too (the latest attempt's, whatever its outcome);
--   then see fail_attempt (prelude.lua): retry at now + backoff(attempt) with jitter drawn
--   from the header's seed; or dead letter (dead:<queue>, history in hist:<id>) and
--   descendants cancelled with reason dependency_failed; a task whose cancel was requested
--   ends cancelled.
-- Costs (accepted items, success or failure) are summed into the task, stats:<queue>, the
--   queue's cost-rate window if it has one (lib/limits.lua) and the batch; if a batch total crosses its budget, the batch's queued, delayed and blocked tasks
--   are cancelled with reason budget_exceeded (listed in that item's cancelled ids and its
--   budget ids), then their dependents outside the batch with dependency_failed.
-- Returns (msgpack): {items = {...}, batches = {{batch id, flat HGETALL}, ...}}: one item per
--   DONE, every group's in turn (the items of group 1, then group 2's, ...); an item =
--   {s = status, id, q = queue, b = batch, at = ready_at ms, att = attempt, rel = released
--   ids, can = cancelled ids (rel and can absent when empty), sum = summary, bud = budget
--   ids}; status: succeeded | retry | dead | cancelled | stale | not_found | awaiting |
--   not_awaiting | bad_token | poll. sum (succeeded first attempts without history
--   only): {type, name, prio, max_att, created, started, worker, finished}: with the DONE,
--   the whole task. bud (only when this item crossed the budget): the cancelled ids whose
--   reason is budget_exceeded, so the batch events say what GET says.

-- A first attempt with no history: the task has recorded nothing before this DONE.
local function first_attempt(t) return t.att == '1' and t.hist ~= '1' end

-- {name = amount} as {{name, amount}, ...}, in name order (deterministic writes); NO_COSTS
-- (shared, never written) when there are none.
local NO_COSTS = {}
local function cost_list(costs)
  if type(costs) ~= 'table' or next(costs) == nil then return NO_COSTS end
  local out = {}
  for k, v in pairs(costs) do out[#out + 1] = {k, v} end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

-- Adds an attempt's costs everywhere; returns true if its batch just crossed its budget.
-- With `fields` (a first attempt's: the task holds no costs yet), the task's totals are
-- appended there for the caller's HSET instead of being incremented one by one.
local function add_costs(t, costs, fields)
  if #costs == 0 then return false end
  LIM.spent(t.queue, t.lk, costs)  -- the queue's cost rate, if it has one
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

local function succeed(t, it, fields, fresh)
  local id = t.id
  end_polls(t)
  local f = {'state', 'succeeded', 'res', it.res, 'finished', NOW_S}
  for _, v in ipairs(fields) do f[#f + 1] = v end
  redis.call('HSET', task_key(id), unpack(f))
  state_written(t, 'succeeded')
  if t.err_code ~= '' then redis.call('HDEL', task_key(id), 'err_code', 'err_msg', 'err_retry') end
  bump(stats_key(t.queue), 'succeeded', 1)
  expire_finished(t)
  local released = release_children(t)
  local item = finish_item('succeeded', t, 0, tonumber(t.att) or 0, released, {})
  -- A first attempt with no history: the broker holds everything else the task's RESULT
  -- needs (this DONE is its only output and cost), so it need not read the task back.
  if fresh then
    item.sum = {type = t.type, name = t.name, prio = t.prio, max_att = t.max_att,
                created = t.created, started = tonumber(t.started) or 0, worker = t.worker,
                finished = NOW}
  end
  return item
end

-- One DONE of `worker`: its item of the reply.
local function finish_one(worker, it, lease_tok)
  it.res = it.res or ''
  it.code = it.code or ''
  it.msg = it.msg or ''
  local costs = cost_list(it.costs)
  local t = load(it.id or '')
  if not t then
    return {s = 'not_found', id = it.id or '', q = '', b = '', at = 0, att = 0}
  end
  if it.ctok ~= nil and worker == '' then
    -- A COMPLETE: the awaiting attempt's outcome, proved by its token (never a lease).
    if t.state ~= 'awaiting' then
      local item = finish_item('not_awaiting', t, 0, tonumber(t.att) or 0, {}, {})
      item.st = t.state
      return item
    end
    if redis.call('HGET', task_key(t.id), 'ctok') ~= it.ctok then
      return finish_item('bad_token', t, 0, tonumber(t.att) or 0, {}, {})
    end
    redis.call('HDEL', task_key(t.id), 'ctok')
    redis.call('ZREM', AWAITING, t.id)
  elseif t.state ~= 'running' or worker == '' or t.worker ~= worker or lease_tok ~= it.tok then
    bump(stats_key(t.queue), 'stale', 1)
    return finish_item('stale', t, 0, tonumber(t.att) or 0, {}, {})
  else
    remove_lease(t)
  end
  if type(it.poll) == 'table' then
    -- "Check again in ms": parked in the delayed set, no slot held, the attempt not used up.
    add_costs(t, costs, nil)
    if t.cancel ~= '' then
      return fail_attempt(t, 'cancelled', 'cancelled between two checks', false)
    end
    local ms = math.max(1, tonumber(it.poll.ms) or 1)
    local max = tonumber(it.poll.max) or 0
    local since = tonumber(t.psince) or NOW
    if NOW + ms - since > max then
      return fail_attempt(t, 'poll_expired', 'its checks would wait past ' .. fmt(max) ..
                          ' ms in all', true)
    end
    local att = math.max(0, (tonumber(t.att) or 1) - 1)
    push_delayed(t, NOW + ms, {'att', fmt(att), 'pstate', it.poll.st or '', 'psince', fmt(since)})
    return finish_item('poll', t, NOW + ms, att + 1, {}, {})
  end
  if type(it.aw) == 'table' then
    end_polls(t)
    -- The attempt handed the task to an outside system: no slot is held from here on.
    local ms = tonumber(it.aw.ms) or 0
    local at = ms > 0 and NOW + ms or 0
    add_costs(t, costs, nil)
    if t.cancel ~= '' then
      -- Cancelled while it ran: nobody may complete it now; it ends cancelled.
      return fail_attempt(t, 'cancelled', 'cancelled before its hand-over was recorded', false)
    end
    set_state(t, 'awaiting', {'ctok', it.aw.h or ''})
    if at > 0 then redis.call('ZADD', AWAITING, fmt(at), t.id) end
    return finish_item('awaiting', t, at, tonumber(t.att) or 0, {}, {})
  end
  local ok = it.ok == true
  -- A completion's task may hold costs already (its awaiting DONE's): sum, never overwrite.
  local fresh = worker ~= '' and ok and first_attempt(t)
  local fields = fresh and {} or nil
  local crossed = add_costs(t, costs, fields)
  local item
  if ok then
    item = succeed(t, it, fields or {}, fresh)
  else
    -- The failed attempt's exit code and output are what a user debugs with: keep them.
    redis.call('HSET', task_key(t.id), 'res', it.res)
    item = fail_attempt(t, it.code, it.msg, it.retry == true)
  end
  if crossed then
    local budget = {}
    item.can = item.can or {}
    cancel_rest_of_batch(t.batch, item.can, budget)
    item.bud = budget
  end
  return item
end

local out = {}
for _, g in ipairs(A.groups or {}) do
  local worker = g.worker or ''
  local items = g.items or {}
  -- The live tokens of this worker's leases for these items (false: none), read before any
  -- item is recorded: a lease removed by an earlier item of the call is gone only at the end,
  -- and its task is no longer running by then.
  local toks, ids = {}, {}
  for j, it in ipairs(items) do ids[j] = type(it.id) == 'string' and it.id or '' end
  local i = 1
  while i <= #ids do
    local j = math.min(i + 999, #ids)
    local r = redis.call('HMGET', wleases_key(worker), unpack(ids, i, j))
    for k = 1, #r do toks[i + k - 1] = r[k] end
    i = j + 1
  end
  for j, it in ipairs(items) do out[#out + 1] = finish_one(worker, it, toks[j] or false) end
end

return reply({items = out, batches = batch_snapshots()})
