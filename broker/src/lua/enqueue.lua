-- enqueue.lua: adds tasks (one call carries many), optionally as one new batch.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2], a msgpack map (store_args.cc, EnqueueArgs):
--   max_depth  max waiting tasks per queue (0: no cap; see check_queue_depth in prelude.lua)
--   batch      batch id, or "" for independent tasks
--   budget     {cost name = limit (decimal string)} of the batch
--   onf        (optional) the batch's on_failure, continue or fail_fast (batch:<id> field onf;
--     absent: cancel_dependents): member_died in lib/prelude.lua reads it
--   app        (optional) N >= 1: append the items to the running batch `batch` (BATCH
--     append_to, issue 22) instead of storing a new one, the batch then holding at most N
--     tasks (TM_INVALID_ARGUMENT past it); budget, onf and fin are the batch's own and not
--     sent. Refused (TM_NOT_FOUND) when the batch does not exist or is another
--     owner's, and (TM_CONFLICT) when it has ended, was cancelled (field cx, cancel.lua), went
--     over its budget, fired fail_fast, or already has one of the items' names. The items
--     carry the batch's owner (the broker reads it: an admin's append adds tasks the batch's
--     owner still owns); batch:<id> total grows by their number. A parent already ended
--     counts as enqueue counts it for any task (succeeded: satisfied; cancelled: the child is
--     cancelled), except that a failed or expired one under on_failure continue is an ended
--     parent whose error the child receives (claim.lua perr), as member_died would have done.
--   fin        (optional) the batch's finally task {id, spec (record bytes, batch ""), queue,
--     type, prio}: kept in batch:<id> (fid, fspec, fq, ft, fp) until the batch ends, when
--     start_finally (lib/prelude.lua) stores it; TM_CONFLICT if task:<id> exists
--   items      {{id, spec, payload, queue, type, name, prio, nbf, idem, owner, deps, exp,
--     ittl}, ...}: spec and payload are the record's encoded fields (record.lua), written as
--     they come; the others repeat what the script needs of the spec (deps: parent ids; nbf:
--     not_before, a delay_ms already added to the broker's clock). exp (optional): the start
--     deadline, epoch ms (expires_in_ms, issue 22): the task's `exp` field and an EXPIRING
--     entry. ittl (optional): this item's idempotency key TTL ms (0/nil: IDEM_TTL).
--   reqs       (optional) {{rid, owner, digest, first, count}, ...}: the client request ids
--     (SUBMIT/BATCH request_id) of the items first..first+count-1 (1-based), in item order.
--   tick       (optional) a schedule's tick (schedule/schedule_ticker.cc), with exactly one
--     item: {name, expect, next, at, fire, missed}. The call stores its item only if it claims
--     the tick: sched:<name> has next_run == expect (decimal strings) and is not paused; it
--     then sets next_run = next (and sched:due), adds `missed` to missed and, when fire is 1,
--     stores the item (fired + 1, last_run = at, last_task = its id) unless its queue is full
--     (then the tick counts as missed). fire 0 only moves the schedule on (catch-up skip).
--     A claim that fails stores nothing, so however many brokers try a tick, one task is
--     stored; the item's idempotency key (sched:<name>:<at>) stops even a replayed one.
--     Returns {items = {} or the item's, batches = {}, tick = claimed | skipped | full | lost}.
-- Request ids: rq:<rid> (no owner) or rq@<owner>:<rid> holds what the first call with that
--   id stored, for IDEM_TTL: cmsgpack {d = digest, i = {{id} or {id, code, msg}, ...}} (a
--   SUBMIT's outcomes) or {d = digest, b = batch id} (a BATCH). A request whose key exists,
--   or that repeats an earlier request of this same call, stores nothing: its items come
--   back as {s = "duplicate", id = the first call's, state, rq = true} (or the first call's
--   item errors), or all as {s = "error", code = "conflict"} when the digest differs (the id
--   was used for another body). A replayed BATCH returns {items = {}, replay = batch id}
--   (TM_CONFLICT when the digest differs). Decided here, inside the one script call, so a
--   resend that races the first call (same broker or another) cannot store twice.
-- Owners (CURVE): a parent (depends_on) owned by another key than the item's owner is treated
--   as not stored (not_found, the same error as an id that does not exist: its child would
--   receive its output); idempotency keys are per owner (idem@<owner>:<key>), so one key's
--   resubmit never returns, nor blocks, another key's task. Owner "" (no CURVE): unchanged.
-- Writes: task:<id> (spec, payload, state and ready_at or pending: one HSET); q:<queue>:<type>
--   (ready) or delayed (not_before in the future) or state blocked with deps:<parent> entries;
--   idem:<key> or idem@<owner>:<key> (SET NX PX, the item's ittl or IDEM_TTL); expiring (a
--   task with exp); qindex (the queue),
--   types:<queue> (types now ready), stats:<queue> (submitted, gauges), qidle; with a batch:
--   batch:<id> hash (owner: its first item's), batch:<id>:tasks, batch:<id>:names.
-- Returns (msgpack): {items = {...}, batches = {{batch id, flat HGETALL of batch:<id>}, ...}};
--   items[i] = {s = "created", id, state}   state: queued | delayed | blocked | cancelled (a
--                                  parent had already failed or been cancelled)
--   {s = "duplicate", id, state}   the idempotency key was seen: id is the original task
--   {s = "error", id, code, msg}   code: conflict (id exists) | not_found (unknown parent)
-- Errors (batch calls are all-or-nothing, nothing is written):
--   TM_QUEUE_FULL a queue would hold more than max_depth waiting tasks (any call);
--   TM_CONFLICT the batch or a task id exists; TM_NOT_FOUND a parent is neither stored nor
--   earlier in the call; TM_INVALID_ARGUMENT malformed arguments.

local max_depth = tonumber(A.max_depth) or 0
local batch = A.batch or ''
local items = A.items
if type(items) ~= 'table' then return redis.error_reply('TM_INVALID_ARGUMENT missing items') end
local n = #items
for i, it in ipairs(items) do
  if type(it) ~= 'table' or not it.id or not it.spec or not it.queue or not it.type then
    return redis.error_reply('TM_INVALID_ARGUMENT item ' .. i .. ' truncated')
  end
  it.owner = it.owner or ''
  it.idem = it.idem or ''
  it.name = it.name or ''
  it.deps = it.deps or {}
  it.payload = it.payload or ''
  if it.idem ~= '' then
    it.idem_key = it.owner == '' and P .. 'idem:' .. it.idem or
        P .. 'idem@' .. it.owner .. ':' .. it.idem
  end
end

-- Request ids seen before (or earlier in this call): their items are set aside, stored
-- nothing, and answered from the record after the others are written.
local reqs = A.reqs or {}
local all_items, pos = items, nil  -- every item; pos[j] = index in all_items of items[j]
do
  local replayed = {}
  local first_of = {}  -- key -> the first request of this call that stores under it
  for r, q in ipairs(reqs) do
    q.key = q.owner == '' and P .. 'rq:' .. q.rid or P .. 'rq@' .. q.owner .. ':' .. q.rid
    q.same = first_of[q.key]
    if not q.same then
      local raw = redis.call('GET', q.key)
      if raw then
        q.rec = cmsgpack.unpack(raw)
      else
        first_of[q.key] = r
      end
    end
    q.replay = q.rec ~= nil or q.same ~= nil
    if q.replay then
      for i = q.first, q.first + q.count - 1 do replayed[i] = true end
    end
  end
  if batch ~= '' and reqs[1] and reqs[1].rec then
    local rec = reqs[1].rec
    if rec.d ~= reqs[1].digest or not rec.b then
      return redis.error_reply('TM_CONFLICT request_id ' .. reqs[1].rid ..
                               ' was already used for a different request')
    end
    return reply({items = {}, batches = {}, replay = rec.b})
  end
  if next(replayed) then
    items, pos = {}, {}
    for i, it in ipairs(all_items) do
      if not replayed[i] then
        items[#items + 1] = it
        pos[#items] = i
      end
    end
  end
end

-- Appending to a running batch: judged before anything is written.
local appending = batch ~= '' and (tonumber(A.app) or 0) > 0
local onf = ''
if appending then
  local bk = batch_key(batch)
  local h = redis.call('HMGET', bk, 'state', 'owner', 'onf', 'budget_exceeded', 'cx',
                       'n:failed', 'n:expired', 'total')
  local owner = h[2] or ''
  if not h[1] or (items[1] and items[1].owner ~= '' and items[1].owner ~= owner) then
    return redis.error_reply('TM_NOT_FOUND batch ' .. batch .. ' not found')
  end
  onf = h[3] or ''
  local why = nil
  if h[1] ~= 'running' then
    why = 'has ended (' .. h[1] .. ')'
  elseif h[5] then
    why = 'was cancelled'
  elseif h[4] == '1' then
    why = 'went over its budget'
  elseif onf == 'fail_fast' and (tonumber(h[6]) or 0) + (tonumber(h[7]) or 0) > 0 then
    why = 'failed fast (on_failure fail_fast: one of its tasks died)'
  end
  if why then
    return redis.error_reply('TM_CONFLICT batch ' .. batch .. ' ' .. why ..
                             ': no tasks can be added')
  end
  local total = (tonumber(h[8]) or 0) + n
  if total > tonumber(A.app) then
    return redis.error_reply('TM_INVALID_ARGUMENT batch ' .. batch .. ' would hold ' ..
                             total .. ' tasks, over the limit of ' .. A.app ..
                             ' (--max-batch-tasks)')
  end
  for _, it in ipairs(items) do
    if redis.call('HEXISTS', bk .. ':names', it.name) == 1 then
      return redis.error_reply('TM_CONFLICT batch task name \'' .. it.name ..
                               '\' is already in batch ' .. batch)
    end
  end
end

-- A schedule's tick: claimed (compare-and-set of next_run) in this same call as its task is
-- stored, so a broker that claims it cannot fail to store it, and one that lost it stores
-- nothing.
local tick = A.tick
if tick then
  local sk = P .. 'sched:' .. tick.name
  local cur = redis.call('HMGET', sk, 'next_run', 'paused')
  if cur[1] ~= tick.expect or cur[2] == '1' then
    return reply({items = {}, batches = {}, tick = 'lost'})
  end
  redis.call('HSET', sk, 'next_run', tick.next)
  redis.call('ZADD', P .. 'sched:due', tick.next, tick.name)
  local missed = tonumber(tick.missed) or 0
  local status = 'claimed'
  if tick.fire ~= 1 then
    status = 'skipped'
  elseif check_queue_depth(items, max_depth, batch) then
    status = 'full'
    missed = missed + 1
  end
  if missed > 0 then redis.call('HINCRBY', sk, 'missed', missed) end
  if status ~= 'claimed' then return reply({items = {}, batches = {}, tick = status}) end
  redis.call('HINCRBY', sk, 'fired', 1)
  redis.call('HSET', sk, 'last_run', tick.at, 'last_task', items[1].id)
end

-- Validation pass: in a batch, any problem rejects the whole call before a single write.
local full = check_queue_depth(items, max_depth, batch)
if full then return full end
-- One EXISTS over every new task key (ids are random: a clash is rare); only when it finds
-- one is each key checked on its own, so a call costs one command here, not one per task.
local clash = false
do
  local keys = {}
  for i, it in ipairs(items) do keys[i] = task_key(it.id) end
  local i = 1
  while i <= #keys and not clash do
    local j = math.min(i + 3999, #keys)
    clash = redis.call('EXISTS', unpack(keys, i, j)) > 0
    i = j + 1
  end
end
local in_call = {}
local item_error = {}
for i, it in ipairs(items) do
  if (clash and redis.call('EXISTS', task_key(it.id)) == 1) or in_call[it.id] then
    item_error[i] = {'conflict', 'task id ' .. it.id .. ' exists'}
  else
    for _, d in ipairs(it.deps) do
      -- Another key's task is as unknown as one that does not exist.
      -- task_owner is nil for a missing task: with an owner, one read answers both.
      if not in_call[d] and ((it.owner == '' and redis.call('EXISTS', task_key(d)) == 0) or
          (it.owner ~= '' and task_owner(d) ~= it.owner)) then
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

if appending then
  redis.call('HINCRBY', batch_key(batch), 'total', n)
elseif batch ~= '' then
  local bk = batch_key(batch)
  if redis.call('EXISTS', bk) == 1 then
    return redis.error_reply('TM_CONFLICT batch ' .. batch .. ' exists')
  end
  if A.fin and (redis.call('EXISTS', task_key(A.fin.id)) == 1 or in_call[A.fin.id]) then
    return redis.error_reply('TM_CONFLICT task ' .. A.fin.id .. ' exists (batch.finally.id)')
  end
  redis.call('HSET', bk, 'id', batch, 'state', 'running', 'total', n, 'created', NOW_S)
  -- The batches index (list.lua): this batch, and the oldest two entries dropped if their
  -- batch expired, so the index stays within the batches kept plus a few.
  for _, old in ipairs(redis.call('ZRANGE', BATCHES, 0, 1)) do
    if redis.call('EXISTS', batch_key(old)) == 0 then redis.call('ZREM', BATCHES, old) end
  end
  redis.call('ZADD', BATCHES, NOW_S, batch)
  if items[1] and items[1].owner ~= '' then redis.call('HSET', bk, 'owner', items[1].owner) end
  for k, v in pairs(A.budget or {}) do redis.call('HSET', bk, 'b:' .. k, v) end
  if A.onf then redis.call('HSET', bk, 'onf', A.onf) end
  if A.fin then
    -- Kept until the batch ends; start_finally (lib/prelude.lua) stores the task then.
    redis.call('HSET', bk, 'fid', A.fin.id, 'fspec', A.fin.spec, 'fq', A.fin.queue,
               'ft', A.fin.type, 'fp', fmt(A.fin.prio or 0))
  end
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
      local ttl = tonumber(it.ittl) or 0
      if ttl <= 0 then ttl = IDEM_TTL end
      redis.call('SET', ik, it.id, 'PX', fmt(ttl))
    end
  end
  if dup then
    out[i] = {s = 'duplicate', id = dup, state = redis.call('HGET', task_key(dup), 'state') or ''}
  elseif item_error[i] then
    out[i] = {s = 'error', id = it.id, code = item_error[i][1], msg = item_error[i][2]}
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
    -- Parents: succeeded ones are satisfied; a failed or cancelled one dooms the child, but
    -- for a failed or expired one in a continue batch (appending), which has simply ended.
    local pending, doomed = 0, false
    for _, d in ipairs(it.deps) do
      local dk = task_key(d)
      local ps = redis.call('HGET', dk, 'state')
      local died = ps == 'failed' or ps == 'expired'
      if ps == 'cancelled' or (died and onf ~= 'continue') then
        doomed = true
      elseif ps ~= 'succeeded' and not died then
        pending = pending + 1
        redis.call('SADD', deps_key(d), it.id)
        redis.call('HSET', dk, 'kids', '1')
      end
    end
    -- One HSET writes the whole task: its spec and payload as they came, and its state.
    local state
    local f = {'spec', it.spec}
    if it.payload ~= '' then
      f[3] = 'payload'
      f[4] = it.payload
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
      push_keyed(ready_adds, ready_order, rk, ready_score_for(it.queue, it.prio, it.spec),
                 it.id)
      ready_type[rk] = {it.queue, it.type}
    end
    local exp = tonumber(it.exp) or 0
    if exp > 0 and not doomed then
      f[#f + 1] = 'exp'
      f[#f + 1] = fmt(exp)
      redis.call('ZADD', EXPIRING, fmt(exp), it.id)
    end
    f[#f + 1] = 'state'
    f[#f + 1] = state
    redis.call('HSET', task_key(it.id), unpack(f))
    local t = {id = it.id, state = state, queue = it.queue, batch = batch, hist = ''}
    count_state(t, '', state)
    if doomed then
      bump(stats_key(it.queue), 'cancelled', 1)
      expire_finished(t)
    end
    out[i] = {s = 'created', id = it.id, state = state}
  end
end

-- One ZADD per ready zset for the whole call, not one per task; its type joins the queue's
-- type set (which lists exactly the types with ready tasks: prune_type in prelude.lua).
for _, rk in ipairs(ready_order) do
  call_chunked('ZADD', rk, ready_adds[rk])
  redis.call('SADD', types_key(ready_type[rk][1]), ready_type[rk][2])
end

if #reqs > 0 then
  if pos then
    local all_out = {}
    for j, o in ipairs(out) do all_out[pos[j]] = o end
    out = all_out
  end
  -- First calls: record what they stored, for a resend to find.
  for _, q in ipairs(reqs) do
    if not q.replay then
      if batch ~= '' then
        q.rec = {d = q.digest, b = batch}
      else
        local rec_items = {}
        for i = q.first, q.first + q.count - 1 do
          local o = out[i]
          rec_items[#rec_items + 1] = o.s == 'error' and {o.id, o.code, o.msg} or {o.id}
        end
        q.rec = {d = q.digest, i = rec_items}
      end
      if IDEM_TTL > 0 then
        redis.call('SET', q.key, cmsgpack.pack(q.rec), 'PX', fmt(IDEM_TTL))
      else
        redis.call('SET', q.key, cmsgpack.pack(q.rec))
      end
    end
  end
  -- Resends: the first call's answer (or a conflict when the body differs).
  for _, q in ipairs(reqs) do
    if q.replay then
      local rec = q.rec or reqs[q.same].rec
      for k = 1, q.count do
        local i = q.first + k - 1
        local e = rec.d == q.digest and rec.i and #rec.i == q.count and rec.i[k]
        if not e then
          out[i] = {s = 'error', id = all_items[i].id, code = 'conflict',
                    msg = 'request_id ' .. q.rid .. ' was already used for a different request'}
        elseif e[2] then
          out[i] = {s = 'error', id = e[1], code = e[2], msg = e[3]}
        else
          out[i] = {s = 'duplicate', id = e[1], rq = true,
                    state = redis.call('HGET', task_key(e[1]), 'state') or ''}
        end
      end
    end
  end
end

return reply({items = out, batches = batch_snapshots(), tick = tick and 'claimed' or nil})
