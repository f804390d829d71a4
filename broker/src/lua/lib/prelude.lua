-- prelude.lua: shared helpers, prepended (after record.lua) to every script in broker/src/lua/
-- at build time (broker/cmake/embed_lua.cmake), so each loaded script is self-contained and
-- atomic.
--
-- The contract of every script (the C++ side: store/task_record.h, ScriptHeader):
--   KEYS[1] <prefix>layout: every key a script touches is derived from this one declared key
--     (the prefix is KEYS[1] without "layout"), so a hash-tagged prefix such as "{tm}:" keeps
--     them all in one Redis Cluster slot. Moving to a cluster with keys spread over slots is
--     therefore a data-model change (keys per task named in KEYS), not a flag.
--   ARGV[1] the header, a msgpack map: now (epoch ms, the broker's clock, never TIME),
--     retention (ms finished tasks are kept, 0 = forever), dead_max (dead letters kept per
--     queue), finished_max (succeeded or cancelled tasks kept per queue, 0 = no count cap),
--     jitter (seed in [0, 1)), idem_ttl (idempotency key TTL ms), grace (lease grace ms after
--     a task timeout).
--   ARGV[2] the verb's arguments, a msgpack map with named fields (A; see each script).
--   Reply: msgpack with named fields (reply()); only the layout scripts (layout_*.lua) reply
--     with a Redis array {verdict, counts...}.
-- Whole-call errors are error replies "TM_<CODE> message" (CODE = taskmill ErrorCode name in
-- upper case); per-item problems are reported in the item's result instead.

local P = string.sub(KEYS[1], 1, -7)
local H = cmsgpack.unpack(ARGV[1])
local NOW = H.now
local RETENTION = H.retention or 0
local DEAD_MAX = H.dead_max or 0
local FINISHED_MAX = H.finished_max or 0
local JITTER_SEED = H.jitter or 0
local IDEM_TTL = H.idem_ttl or 0
local LEASE_GRACE = H.grace or 0
local A = cmsgpack.unpack(ARGV[2] or '\128')


-- Integers as exact decimal strings: Lua's default number->string is %.14g, which would
-- round scores and timestamps above 10^14. '%d' formats through a C long (exact below 2^53,
-- where every value here lies) and costs a fraction of a float conversion.
local function fmt(n) return string.format('%d', n) end
local NOW_S = fmt(NOW)
local RETENTION_S = fmt(RETENTION)

local function task_key(id) return P .. 'task:' .. id end
local function hist_key(id) return P .. 'hist:' .. id end
local function deps_key(id) return P .. 'deps:' .. id end
local function ready_key(q, t) return P .. 'q:' .. q .. ':' .. t end
local function types_key(q) return P .. 'types:' .. q end
-- stats:<queue> is named on every transition: built once per queue and call.
local stats_keys = {}
local function stats_key(q)
  local k = stats_keys[q]
  if not k then
    k = P .. 'stats:' .. q
    stats_keys[q] = k
  end
  return k
end
local function dead_key(q) return P .. 'dead:' .. q end
-- A worker's live leases: a hash task id -> fencing token (layout 5: the token lives only here,
-- never in the task hash, so a finished task carries none).
local function wleases_key(w) return P .. 'wl:' .. w end
local function batch_key(b) return P .. 'batch:' .. b end
local function done_key(q) return P .. 'done:' .. q end
local DELAYED = P .. 'delayed'
-- Every batch by creation (epoch ms): LIST of batches reads it; an entry whose batch hash
-- expired is dropped by the next listing, or by a later batch's enqueue (two per enqueue).
local BATCHES = P .. 'batches'
local LEASES = P .. 'leases'
-- Tasks awaiting an outside completion that have a deadline: a zset scored by it (reap.lua
-- fails those past it). The completion token's SHA-256 is the task's ctok field.
local AWAITING = P .. 'awaiting'
-- Every queue with state (tasks in any state but finished-and-expired, dead letters, or
-- counters younger than the retention): a zset with every score 0, so STATS pages it by
-- name (ZRANGEBYLEX). QUEUE_IDLE scores each queue that holds nothing by when it went idle;
-- prune_idle_queues drops those idle for longer than the retention.
local QUEUES = P .. 'qindex'
local QUEUE_IDLE = P .. 'qidle'

local TERMINAL = {succeeded = true, failed = true, cancelled = true, expired = true}
-- Tasks with a deadline to start (TaskSpec.expires_in_ms, issue 22): a zset scored by it
-- (epoch ms), from enqueue until their first lease (claim.lua removes them) or their end.
-- The sweep on the promote timer (promote.lua) expires those past it; claim.lua expires one
-- it meets before the sweep does. The deadline itself is the task's `exp` field.
local EXPIRING = P .. 'expiring'
-- Per-queue gauges kept in stats:<queue> (queued = in any of its ready zsets); the dead
-- depth is a ZCARD instead.
local GAUGE = {blocked = true, delayed = true, running = true, queued = true, awaiting = true}
-- States with no index of their own elsewhere, indexed per queue for LIST (list.lua) in
-- st:<state>:<queue>, a zset scored by when the task entered the state; count_state keeps
-- it. Neither is on the claim path (queued -> running).
local STATE_INDEX = {blocked = true, awaiting = true}
local function state_index_key(state, q) return P .. 'st:' .. state .. ':' .. q end

-- Refuses a call that would put more than `cap` waiting tasks (queued in any of its ready
-- zsets, delayed, blocked) in one of the queues `items` add to; cap 0 = no cap. Items whose
-- idempotency key was already seen (independent tasks only) add nothing. O(1) per queue: the
-- depth is three gauges of stats:<queue>, never a walk over its types. Returns an error
-- reply (TM_QUEUE_FULL) or nil.
local function check_queue_depth(items, cap, batch)
  if not cap or cap <= 0 then return nil end
  local adding, order = {}, {}
  for _, it in ipairs(items) do
    local seen = batch == '' and it.idem ~= '' and redis.call('EXISTS', it.idem_key) == 1
    if not seen then
      if not adding[it.queue] then order[#order + 1] = it.queue end
      adding[it.queue] = (adding[it.queue] or 0) + 1
    end
  end
  for _, q in ipairs(order) do
    local g = redis.call('HMGET', stats_key(q), 'queued', 'delayed', 'blocked')
    local depth = (tonumber(g[1]) or 0) + (tonumber(g[2]) or 0) + (tonumber(g[3]) or 0)
    if depth + adding[q] > cap then
      return redis.error_reply('TM_QUEUE_FULL queue ' .. q .. ' holds ' .. fmt(depth) ..
                               ' waiting tasks, its cap is ' .. fmt(cap) ..
                               '; this request would add ' .. fmt(adding[q]))
    end
  end
  return nil
end

-- Queues whose gauges or dead letters changed in this call: finish() re-files each as idle
-- (it holds nothing) or active.
local touched_queues, touched_queue_order = {}, {}
local function touch_queue(q)
  if not touched_queues[q] then
    touched_queues[q] = true
    touched_queue_order[#touched_queue_order + 1] = q
  end
end

-- A queue that holds nothing (no task waiting, running or dead) is idle: its counters expire
-- with the retention (prune_idle_queues). A queue that holds something again is active.
local function refile_queues()
  for _, q in ipairs(touched_queue_order) do
    local g = redis.call('HMGET', stats_key(q), 'queued', 'delayed', 'blocked', 'running',
                         'awaiting')
    local held = 0
    for j = 1, 5 do held = held + math.abs(tonumber(g[j]) or 0) end
    if held == 0 and redis.call('EXISTS', dead_key(q)) == 0 then
      redis.call('ZADD', QUEUE_IDLE, 'NX', NOW_S, q)
    else
      redis.call('ZREM', QUEUE_IDLE, q)
    end
  end
  touched_queues, touched_queue_order = {}, {}
end

-- Forgets up to `limit` queues idle for longer than the retention (never with retention 0:
-- keep forever): their index entry, counters, (empty) type set and finished-task list (its
-- tasks, all finished before the queue went idle, are past the retention: trim_done deletes
-- them first, at most 1,000 per call, and the queue waits for a later call while some are
-- left). Each is re-checked first, so a queue that got a task again is never dropped; a
-- queue dropped here that gets a task later starts again from zero counters.
local trim_done
local function prune_idle_queues(limit)
  if RETENTION <= 0 then return 0 end
  local old = redis.call('ZRANGEBYSCORE', QUEUE_IDLE, '-inf', '(' .. fmt(NOW - RETENTION),
                         'LIMIT', 0, limit)
  for _, q in ipairs(old) do
    local g = redis.call('HMGET', stats_key(q), 'queued', 'delayed', 'blocked', 'running',
                         'awaiting')
    local held = 0
    for j = 1, 5 do held = held + math.abs(tonumber(g[j]) or 0) end
    local types = redis.call('SMEMBERS', types_key(q))
    for _, ty in ipairs(types) do
      if redis.call('EXISTS', ready_key(q, ty)) == 1 then held = held + 1 end
    end
    if held == 0 and redis.call('EXISTS', dead_key(q)) == 0 then
      trim_done(q)
      if redis.call('EXISTS', done_key(q)) == 0 then
        redis.call('ZREM', QUEUE_IDLE, q)
        redis.call('ZREM', QUEUES, q)
        redis.call('DEL', stats_key(q), types_key(q))
      end
    else
      redis.call('ZREM', QUEUE_IDLE, q)
    end
  end
  return #old
end

-- The type set of a queue lists exactly the types whose ready zset is not empty: added with
-- every ready ZADD, removed (here) once a ZREM empties the zset, in the same atomic call, so
-- claim never misses a ready task and the set never outgrows what is queued.
local function prune_type(q, ty)
  if redis.call('EXISTS', ready_key(q, ty)) == 0 then redis.call('SREM', types_key(q), ty) end
end

-- A task as transitions see it: the mutable fields (LOAD_FIELDS, record.lua) and the spec's
-- first fields, decoded. hist = '1' iff hist:<id> exists; kids = '1' iff deps:<id> may have
-- members. The payload, labels and result are never loaded.
local function load(id)
  local v = redis.call('HMGET', task_key(id), unpack(LOAD_FIELDS))
  if not v[1] or not v[9] then return nil end
  local t = decode_spec({id = id, state = v[1], att = v[2] or '', worker = v[3] or '',
                         started = v[4] or '', cancel = v[5] or '', hist = v[6] or '',
                         kids = v[7] or '', err_code = v[8] or '', psince = v[10] or '',
                         lk = v[11] or ''}, v[9])
  if v[12] then t.prio = tonumber(v[12]) or t.prio end
  return t
end

-- The fencing token of a running task's live lease ('' when it has none).
local function lease_token(t)
  if t.worker == '' then return '' end
  return redis.call('HGET', wleases_key(t.worker), t.id) or ''
end

-- The owner of a stored task (nil if there is no such task).
local function task_owner(id)
  local spec = redis.call('HGET', task_key(id), 'spec')
  if not spec then return nil end
  -- The owner is the spec's 11th field: decode no further (decode_spec reads 13).
  return select(12, cmsgpack.unpack_limit(spec, 11)) or ''
end

-- Calls redis.call(cmd, key, <prefix...>, list...) in chunks (Lua's unpack is bounded).
local function call_chunked(cmd, key, list)
  local i = 1
  while i <= #list do
    local j = math.min(i + 3999, #list)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end

-- Appends `a` (and `b`, if given) to the list kept under `key` in `lists`; `order` records
-- the keys in first-seen order, so writes at the end of a call are deterministic.
local function push_keyed(lists, order, key, a, b)
  local l = lists[key]
  if not l then
    l = {}
    lists[key] = l
    order[#order + 1] = key
  end
  l[#l + 1] = a
  if b ~= nil then l[#l + 1] = b end
end

-- Counter deltas (stats gauges and counters, batch counts) are summed in Lua and written
-- once per key and field at the end of the call: one HINCRBY per queue, not per task.
local bumps, bump_order, fbumps, fbump_order = {}, {}, {}, {}
local function bump(key, field, delta)
  local kb = bumps[key]
  if not kb then
    kb = {}
    bumps[key] = kb
    bump_order[#bump_order + 1] = key
  end
  kb[field] = (kb[field] or 0) + delta
end
local function bumpf(key, field, delta)
  local kb = fbumps[key]
  if not kb then
    kb = {}
    fbumps[key] = kb
    fbump_order[#fbump_order + 1] = key
  end
  kb[field] = (kb[field] or 0) + delta
end
local function flush_bumps()
  for _, key in ipairs(bump_order) do
    for f, d in pairs(bumps[key]) do
      if d ~= 0 then redis.call('HINCRBY', key, f, fmt(d)) end
    end
  end
  for _, key in ipairs(fbump_order) do
    for f, d in pairs(fbumps[key]) do
      redis.call('HINCRBYFLOAT', key, f, string.format('%.17g', d))
    end
  end
  bumps, bump_order, fbumps, fbump_order = {}, {}, {}, {}
end

-- Batches whose counts changed in this call; snapshotted into the reply at the end.
local touched_batches = {}
local touched_order = {}
local function touch_batch(b)
  if b ~= '' and not touched_batches[b] then
    touched_batches[b] = true
    touched_order[#touched_order + 1] = b
  end
end

-- Keeps the queue gauges and the batch counts exact across a state change.
local function count_state(t, old, new)
  local sk = stats_key(t.queue)
  if GAUGE[old] then bump(sk, old, -1) end
  if GAUGE[new] then bump(sk, new, 1) end
  if GAUGE[old] or GAUGE[new] then touch_queue(t.queue) end
  if STATE_INDEX[old] then redis.call('ZREM', state_index_key(old, t.queue), t.id) end
  if STATE_INDEX[new] then redis.call('ZADD', state_index_key(new, t.queue), NOW_S, t.id) end
  if t.batch ~= '' then
    local bk = batch_key(t.batch)
    if old ~= '' then bump(bk, 'n:' .. old, -1) end
    bump(bk, 'n:' .. new, 1)
    touch_batch(t.batch)
  end
end

-- The bookkeeping of a state change whose `state` field the caller wrote in its own HSET
-- (the hot paths, claim and success, write it without building an argument table).
local function state_written(t, new)
  if t.state ~= new then count_state(t, t.state, new) end
  t.state = new
end

-- Moves a task to a new state, writing `fields` (flat field/value list) in the same HSET.
local function set_state(t, new, fields)
  local args = {'state', new}
  if fields then
    for _, v in ipairs(fields) do args[#args + 1] = v end
  end
  redis.call('HSET', task_key(t.id), unpack(args))
  state_written(t, new)
end

-- Global FIFO sequence: read once, allocated locally, written back once (flush_seq).
local seq_base, seq_used = nil, 0
local function next_seq()
  if not seq_base then seq_base = tonumber(redis.call('GET', P .. 'seq') or '0') end
  seq_used = seq_used + 1
  return seq_base + seq_used
end
local function flush_seq()
  if seq_base and seq_used > 0 then redis.call('SET', P .. 'seq', fmt(seq_base + seq_used)) end
end

-- Ready score: priority (higher first) then FIFO, exact below 2^53: (255-prio)*2^45 + seq.
local SEQ_SPAN = 35184372088832  -- 2^45
local function ready_score(prio) return fmt((255 - tonumber(prio)) * SEQ_SPAN + next_seq()) end
-- The ready score of a task of queue q becoming ready now: ready_score, unless the queue has
-- priority aging or round robin (lib/limits.lua defines it). spec: the task's spec bytes, or
-- nil (read from task `id` when the queue's fairness needs its labels); since: when it became
-- ready (nil = now).
local ready_score_for

local function push_ready(t, fields)
  redis.call('ZADD', ready_key(t.queue, t.type), ready_score_for(t.queue, t.prio, nil, t.id),
             t.id)
  redis.call('SADD', types_key(t.queue), t.type)
  set_state(t, 'queued', fields)
end

local function push_delayed(t, at, fields)
  redis.call('ZADD', DELAYED, fmt(at), t.id)
  local f = {'ready_at', fmt(at)}
  if fields then
    for _, v in ipairs(fields) do f[#f + 1] = v end
  end
  set_state(t, 'delayed', f)
end

-- Tasks that joined done:<queue> in this call, per queue (ids, in finish order): one RPUSH
-- per queue at the end (finish()), then trim_done once for each.
local done_adds, done_order = {}, {}

-- A succeeded or cancelled task joins done:<queue> (a list, in finish order), which is how
-- it leaves the store: trim_done deletes it once it is older than the retention or past
-- FINISHED_MAX (no TTL per task: layout 5). With neither bound (retention 0, no count cap)
-- it is kept forever and joins no list. A dead letter (`dead`) keeps its own index and
-- bounds (dead:<queue>, trim_dead) and its TTL.
local function expire_finished(t, dead)
  if dead then
    if RETENTION > 0 then
      redis.call('PEXPIRE', task_key(t.id), RETENTION_S)
      if t.hist == '1' then redis.call('PEXPIRE', hist_key(t.id), RETENTION_S) end
    end
  elseif RETENTION > 0 or FINISHED_MAX > 0 then
    push_keyed(done_adds, done_order, t.queue, t.id)
  end
end

-- Deletes a queue's finished tasks from the head of done:<queue> (oldest finished first)
-- while the head is older than the retention or the list is longer than FINISHED_MAX, at
-- most 1,000 per call (lowering the cap or a long idle spell never holds Redis long). An
-- entry whose task is gone or no longer finished (an id reused after deletion) leaves the
-- list without deleting anything: only a task still succeeded or cancelled is deleted, so
-- nothing queued, running or dead-lettered ever goes. Cost when nothing is due: LLEN (with a
-- count cap), one LRANGE and one HMGET.
trim_done = function(q)
  local dk = done_key(q)
  local extra = 0
  if FINISHED_MAX > 0 then extra = redis.call('LLEN', dk) - FINISHED_MAX end
  local cutoff = RETENTION > 0 and NOW - RETENTION or nil
  local popped, budget = 0, 1000
  while budget > 0 do
    -- The head alone first (the common case: nothing is due), then up to 100 at a time.
    local want = popped == 0 and math.max(1, math.min(extra, 100)) or math.min(budget, 100)
    local ids = redis.call('LRANGE', dk, popped, popped + want - 1)
    if #ids == 0 then break end
    local stop = false
    for _, id in ipairs(ids) do
      local v = redis.call('HMGET', task_key(id), 'state', 'finished')
      local ended = v[1] == 'succeeded' or v[1] == 'cancelled' or v[1] == 'expired'
      if ended and popped >= extra and not (cutoff and (tonumber(v[2]) or 0) < cutoff) then
        stop = true
        break
      end
      if ended then redis.call('DEL', task_key(id), hist_key(id)) end
      popped = popped + 1
      budget = budget - 1
      if budget <= 0 then break end
    end
    if stop then break end
  end
  if popped > 0 then redis.call('LTRIM', dk, popped, -1) end
end

-- Ages out the finished tasks of up to `limit` queues per call, round robin over the queue
-- index (the cursor, the last queue swept, in <prefix>donesweep): run on the promote timer
-- so a queue where nothing finishes any more still loses its old tasks.
local function sweep_done(limit)
  if RETENTION <= 0 then return end
  local sk = P .. 'donesweep'
  local after = redis.call('GET', sk)
  local qs = redis.call('ZRANGEBYLEX', QUEUES, after and ('(' .. after) or '-', '+',
                        'LIMIT', 0, limit)
  for _, q in ipairs(qs) do trim_done(q) end
  if #qs < limit then
    redis.call('DEL', sk)
  else
    redis.call('SET', sk, qs[#qs])
  end
end

-- Same formula as BackoffPolicy::DelayFor (shared/src/backoff.cc): base * mult^(n-1),
-- capped at max, truncated; with jitter, truncated again after scaling by unit.
local function backoff(t, failed_attempt, unit)
  if failed_attempt < 1 then failed_attempt = 1 end
  local base, max, mult, jit = t.bo[1], t.bo[2], t.bo[3], t.bo[4]
  mult = math.max(tonumber(mult) or 1.0, 1.0)
  local d = (tonumber(base) or 0) * math.pow(mult, failed_attempt - 1)
  d = math.floor(math.min(d, tonumber(max) or 0))
  if jit == true then
    if unit < 0 then unit = 0 elseif unit > 1 then unit = 1 end
    d = math.floor(d * unit)
  end
  return d
end

-- The i-th jitter draw of this call: an additive recurrence on the caller's random seed.
local jitter_draws = 0
local function next_unit()
  jitter_draws = jitter_draws + 1
  local u = JITTER_SEED + jitter_draws * 0.6180339887498949
  return u - math.floor(u)
end

local function mark_cancelled(t, reason, fields)
  local f = {'reason', reason, 'finished', NOW_S}
  if fields then
    for _, v in ipairs(fields) do f[#f + 1] = v end
  end
  set_state(t, 'cancelled', f)
  bump(stats_key(t.queue), 'cancelled', 1)
  expire_finished(t)
end

-- Cancels a task that is not running (queued, delayed, blocked or awaiting). Returns true if
-- it was.
local function cancel_now(t, reason)
  if TERMINAL[t.state] or t.state == 'running' then return false end
  if t.state == 'queued' then
    redis.call('ZREM', ready_key(t.queue, t.type), t.id)
    prune_type(t.queue, t.type)
  elseif t.state == 'delayed' then
    redis.call('ZREM', DELAYED, t.id)
  elseif t.state == 'awaiting' then
    -- Its token dies with the wait: a later COMPLETE finds it cancelled, not awaiting.
    redis.call('ZREM', AWAITING, t.id)
    redis.call('HDEL', task_key(t.id), 'ctok')
  end
  mark_cancelled(t, reason)
  return true
end

-- Cancels every unfinished descendant of a task that will never succeed; returns their ids.
local function cascade(t, reason)
  local out = {}
  if t.kids ~= '1' then return out end
  local stack = {t.id}
  while #stack > 0 do
    local cur = table.remove(stack)
    local dk = deps_key(cur)
    local children = redis.call('SMEMBERS', dk)
    redis.call('DEL', dk)
    for _, cid in ipairs(children) do
      local c = load(cid)
      if c and cancel_now(c, reason) then
        out[#out + 1] = cid
        if c.kids == '1' then stack[#stack + 1] = cid end
      end
    end
  end
  return out
end

-- Ends a task never started (queued, delayed or blocked, no attempt yet) whose start
-- deadline has passed: state expired (terminal: it never runs), error `expired`. Only the
-- task itself: what its end does to its dependents and its batch (the batch's on_failure, as
-- for a task that died) is expiry_item's, which the caller runs after it, at once (the sweep)
-- or once it no longer iterates a ready zset (claim.lua). `in_ready`: remove it from its
-- ready zset here (false: the caller does, as claim.lua does for what it takes). Returns
-- true, or false when the task was not expirable (it started once: only the first start
-- counts, a retry waiting in backoff never expires).
local EXPIRED_MSG = 'not started before its deadline (expires_in_ms)'
local function expire_task(t, in_ready)
  if (t.state ~= 'queued' and t.state ~= 'delayed' and t.state ~= 'blocked') or
      (tonumber(t.att) or 0) > 0 then
    return false
  end
  if t.state == 'queued' and in_ready then
    redis.call('ZREM', ready_key(t.queue, t.type), t.id)
    prune_type(t.queue, t.type)
  elseif t.state == 'delayed' then
    redis.call('ZREM', DELAYED, t.id)
  end
  redis.call('ZREM', EXPIRING, t.id)
  set_state(t, 'expired', {'finished', NOW_S, 'err_code', 'expired', 'err_msg', EXPIRED_MSG,
                           'err_retry', '0'})
  bump(stats_key(t.queue), 'expired', 1)
  expire_finished(t)
  return true
end

-- A task whose parents have all succeeded: to its ready queue, or delayed until not_before.
local function release(t)
  local nbf = tonumber(t.nbf) or 0
  if nbf > NOW then push_delayed(t, nbf) else push_ready(t) end
end

-- A task that ended: each blocked child of it whose other parents have all ended too is
-- released (ready or delayed). Returns their ids. A success always does this; a death does it
-- in an on_failure=continue batch (member_died).
local function release_children(t)
  local released = {}
  if t.kids ~= '1' then return released end
  local dk = deps_key(t.id)
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
  return released
end

-- A batch's failure policy: batch:<id> field onf, absent for cancel_dependents (the default,
-- and every batch stored before issue 22).
local function batch_policy(b)
  if b == '' then return '' end
  return redis.call('HGET', batch_key(b), 'onf') or ''
end

-- The reason stored with the tasks a fail_fast batch cancels when one of its tasks dies.
local FAIL_FAST_REASON = 'batch_failed'

-- The one place where a task that died (dead-lettered after its last attempt or a
-- non-retryable error) or expired (never started by its expires_in_ms: expiry_item) acts on
-- the rest of its batch, by the batch's on_failure:
--   cancel_dependents (default): its unfinished descendants are cancelled (dependency_failed);
--   continue: its blocked children count it as ended, like a success: each one whose parents
--     have all ended is released and receives the error in TASK parent_errors (claim.lua);
--   fail_fast: every unfinished task of the batch is cancelled with reason batch_failed (a
--     running one gets cancel=batch_failed: its worker is sent CANCEL_TASK, and the attempt
--     then ends cancelled), then their dependents outside the batch (dependency_failed).
-- Releases children (ready zsets) and cancels ready tasks: never call it while iterating a
-- ready zset (claim.lua defers it past its scan).
-- Returns released ids, cancelled ids, the cancelled ids whose reason is batch_failed, and
-- the running tasks whose cancel it requested as a flat {id, worker, token, ...}.
local function member_died(t)
  local onf = batch_policy(t.batch)
  if onf == 'continue' then
    return release_children(t), {}, {}, {}
  end
  if onf ~= 'fail_fast' then
    return {}, cascade(t, 'dependency_failed'), {}, {}
  end
  local can, ff, creq, gone = {}, {}, {}, {}
  for _, id in ipairs(redis.call('SMEMBERS', batch_key(t.batch) .. ':tasks')) do
    local m = id ~= t.id and load(id) or nil
    if m and m.state == 'running' then
      if m.cancel == '' then
        redis.call('HSET', task_key(id), 'cancel', FAIL_FAST_REASON)
        local tok = lease_token(m)
        creq[#creq + 1] = id
        creq[#creq + 1] = m.worker
        creq[#creq + 1] = tok ~= '' and tok or '0'
      end
    elseif m and cancel_now(m, FAIL_FAST_REASON) then
      can[#can + 1] = id
      ff[#ff + 1] = id
      gone[#gone + 1] = m
    end
  end
  -- Tasks outside the batch that depend on it can never run now either.
  gone[#gone + 1] = t
  for _, m in ipairs(gone) do
    for _, cid in ipairs(cascade(m, 'dependency_failed')) do can[#can + 1] = cid end
  end
  return {}, can, ff, creq
end

-- Lease removals are collected and written once per call (flush_leases).
local lease_rm, wlease_rm, wlease_order = {}, {}, {}
local function remove_lease(t)
  lease_rm[#lease_rm + 1] = t.id
  if t.worker ~= '' then push_keyed(wlease_rm, wlease_order, t.worker, t.id) end
  -- A lease of a queue with a concurrency cap (lk '1<key>', written by claim: lib/limits.lua)
  -- gives its slot back: every path that ends a lease (finish, reap, release) comes here.
  if t.lk ~= '' then
    if string.byte(t.lk, 1) == 49 then
      local rk, f = P .. 'lrun:' .. t.queue, string.sub(t.lk, 2)
      if redis.call('HINCRBY', rk, f, -1) <= 0 then redis.call('HDEL', rk, f) end
    end
    redis.call('HDEL', task_key(t.id), 'lk')
  end
end
local function flush_leases()
  call_chunked('ZREM', LEASES, lease_rm)
  for _, w in ipairs(wlease_order) do call_chunked('HDEL', wleases_key(w), wlease_rm[w]) end
  lease_rm, wlease_rm, wlease_order = {}, {}, {}
end

-- Keeps a queue's dead letters bounded by age (retention) and count (DEAD_MAX); runs once
-- per queue per call, at the end.
local dead_queues, dead_order = {}, {}
local function trim_dead(q)
  local dk = dead_key(q)
  local gone = {}
  if RETENTION > 0 then
    gone = redis.call('ZRANGEBYSCORE', dk, '-inf', '(' .. fmt(NOW - RETENTION))
  end
  local n = redis.call('ZCARD', dk) - #gone
  if DEAD_MAX > 0 and n > DEAD_MAX then
    local extra = redis.call('ZRANGE', dk, #gone, #gone + n - DEAD_MAX - 1)
    for _, id in ipairs(extra) do gone[#gone + 1] = id end
  end
  for _, id in ipairs(gone) do
    redis.call('ZREM', dk, id)
    redis.call('DEL', task_key(id), hist_key(id))
  end
  touch_queue(q)
end

-- Records a failed attempt of a running task whose lease is already removed: retry after
-- backoff, dead letter (last attempt or not retryable), or cancelled (cancel was requested).
-- Returns the finish item {s = status, id, q = queue, b = batch, at = ready_at ms, att =
-- attempt, rel = released ids, can = cancelled ids} (finish.lua adds sum and bud; a death in
-- a fail_fast batch adds ff and creq: member_died); rel and
-- can are left out when empty (the broker reads nil as none): most items release and cancel
-- nothing, and every table packed costs the hot path.
local function finish_item(status, t, at, att, released, cancelled)
  return {s = status, id = t.id, q = t.queue, b = t.batch, at = at, att = att,
          rel = #released > 0 and released or nil, can = #cancelled > 0 and cancelled or nil}
end

-- The end of a polled attempt (any outcome but another check): its state value goes.
local function end_polls(t)
  if t.psince ~= '' then
    redis.call('HDEL', task_key(t.id), 'pstate', 'psince')
    t.psince = ''
  end
end

local function fail_attempt(t, code, msg, retryable)
  end_polls(t)
  local id = t.id
  local att = tonumber(t.att) or 0
  local r = retryable and '1' or '0'
  if redis.call('RPUSH', hist_key(id), code, msg, r) > 300 then
    redis.call('LTRIM', hist_key(id), -300, -1)
  end
  t.hist = '1'
  local errf = {'err_code', code, 'err_msg', msg, 'err_retry', r, 'hist', '1'}
  if t.cancel ~= '' then
    mark_cancelled(t, t.cancel, errf)
    return finish_item('cancelled', t, 0, att, {}, cascade(t, 'dependency_failed'))
  end
  -- A batch over its budget runs nothing more: a retry would spend past it.
  if retryable and t.batch ~= '' and
      redis.call('HGET', batch_key(t.batch), 'budget_exceeded') == '1' then
    mark_cancelled(t, 'budget_exceeded', errf)
    return finish_item('cancelled', t, 0, att, {}, cascade(t, 'dependency_failed'))
  end
  if retryable and att < (tonumber(t.max_att) or 1) then
    local at = NOW + backoff(t, att, next_unit())
    push_delayed(t, at, errf)
    bump(stats_key(t.queue), 'retried', 1)
    return finish_item('retry', t, at, att, {}, {})
  end
  errf[#errf + 1] = 'finished'
  errf[#errf + 1] = NOW_S
  set_state(t, 'failed', errf)
  bump(stats_key(t.queue), 'failed', 1)
  redis.call('ZADD', dead_key(t.queue), NOW_S, id)
  expire_finished(t, true)
  if not dead_queues[t.queue] then
    dead_queues[t.queue] = true
    dead_order[#dead_order + 1] = t.queue
  end
  local rel, can, ff, creq = member_died(t)
  local item = finish_item('dead', t, 0, att, rel, can)
  if #ff > 0 then item.ff = ff end
  if #creq > 0 then item.creq = creq end
  return item
end

-- What a task that expire_task just ended does to its dependents and batch: the batch's
-- on_failure, exactly as for a death (member_died). Returns its item for the reply's `exp`,
-- shaped as a finish item of status expired (finish_item: rel, can, ff and creq as a dead
-- task's), so the broker handles both alike.
local function expiry_item(t)
  local rel, can, ff, creq = member_died(t)  -- the batch's on_failure, as for a death
  local item = finish_item('expired', t, 0, 0, rel, can)
  if #ff > 0 then item.ff = ff end
  if #creq > 0 then item.creq = creq end
  return item
end

-- The dead letters a dead_retry/dead_purge call acts on, as loaded tasks. Reads the map A:
-- queue ("" = every queue), limit, ids (none: the oldest `limit` of the queue(s)).
-- Only tasks still dead (and in the queue, when one is named) are returned.
local function dead_letters_selected()
  local queue = A.queue or ''
  local limit = tonumber(A.limit) or 0
  local ids = {}
  for _, id in ipairs(A.ids or {}) do ids[#ids + 1] = id end
  if #ids == 0 then
    local queues = {queue}
    if queue == '' then queues = redis.call('ZRANGE', QUEUES, 0, -1) end
    for _, q in ipairs(queues) do
      for _, id in ipairs(redis.call('ZRANGE', dead_key(q), 0, limit - 1)) do
        if #ids < limit then ids[#ids + 1] = id end
      end
    end
  end
  local out = {}
  for _, id in ipairs(ids) do
    local t = load(id)
    if t and t.state == 'failed' and (queue == '' or t.queue == queue) then out[#out + 1] = t end
  end
  return out
end
