-- prelude.lua: shared helpers, prepended to every script in broker/src/lua/ at build time
-- (broker/cmake/embed_lua.cmake), so each loaded script is self-contained and atomic.
--
-- Common ARGV header of every script (the verb's own arguments start at ARGV[8]):
--   ARGV[1] key prefix (e.g. "tm:")     ARGV[2] now, epoch ms (the broker's clock, never TIME)
--   ARGV[3] retention ms for finished tasks (0 = keep forever)
--   ARGV[4] max dead letters kept per queue      ARGV[5] jitter seed in [0, 1)
--   ARGV[6] idempotency key TTL ms               ARGV[7] lease grace ms (after a task timeout)
-- KEYS is empty: every key is derived from the prefix (a hash-tagged prefix such as "{tm}:"
-- keeps them in one cluster slot).
-- Whole-call errors are error replies "TM_<CODE> message" (CODE = taskmill ErrorCode name in
-- upper case); per-item problems are reported in the item's result instead.

local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local RETENTION = tonumber(ARGV[3])
local DEAD_MAX = tonumber(ARGV[4])
local JITTER_SEED = tonumber(ARGV[5])
local IDEM_TTL = tonumber(ARGV[6])
local LEASE_GRACE = tonumber(ARGV[7])

local argi = 8
local function arg()
  local v = ARGV[argi]
  argi = argi + 1
  return v
end
local function argn() return tonumber(arg()) end

-- Integers as exact decimal strings: Lua's default number->string is %.14g, which would
-- round scores and timestamps above 10^14.
local function fmt(n) return string.format('%.0f', n) end

local function task_key(id) return P .. 'task:' .. id end
local function hist_key(id) return P .. 'hist:' .. id end
local function deps_key(id) return P .. 'deps:' .. id end
local function ready_key(q, t) return P .. 'q:' .. q .. ':' .. t end
local function types_key(q) return P .. 'types:' .. q end
local function stats_key(q) return P .. 'stats:' .. q end
local function dead_key(q) return P .. 'dead:' .. q end
local function wleases_key(w) return P .. 'wleases:' .. w end
local function batch_key(b) return P .. 'batch:' .. b end
local DELAYED = P .. 'delayed'
local LEASES = P .. 'leases'
local QUEUES = P .. 'queues'

local TERMINAL = {succeeded = true, failed = true, cancelled = true}
-- Per-queue gauges kept in stats:<queue>; ready and dead depths are ZCARDs instead.
local GAUGE = {blocked = true, delayed = true, running = true}

-- The fields of a task hash that transitions need (payload and outputs are not loaded).
local LOAD_FIELDS = {'state', 'queue', 'type', 'batch', 'prio', 'att', 'max_att', 'tok',
                     'worker', 'b_base', 'b_max', 'b_mult', 'b_jit', 'timeout', 'started',
                     'cancel', 'nbf', 'name'}
local function load(id)
  local v = redis.call('HMGET', task_key(id), unpack(LOAD_FIELDS))
  if not v[1] then return nil end
  local t = {id = id}
  for i, f in ipairs(LOAD_FIELDS) do t[f] = v[i] or '' end
  return t
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

-- Moves a task to a new state, keeping the queue gauges and the batch counts exact.
local function set_state(t, new)
  local old = t.state
  if old == new then return end
  redis.call('HSET', task_key(t.id), 'state', new)
  local sk = stats_key(t.queue)
  if GAUGE[old] then redis.call('HINCRBY', sk, old, -1) end
  if GAUGE[new] then redis.call('HINCRBY', sk, new, 1) end
  if t.batch ~= '' then
    local bk = batch_key(t.batch)
    if old ~= '' then redis.call('HINCRBY', bk, 'n:' .. old, -1) end
    redis.call('HINCRBY', bk, 'n:' .. new, 1)
    touch_batch(t.batch)
  end
  t.state = new
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
local function push_ready(t)
  local score = (255 - tonumber(t.prio)) * SEQ_SPAN + next_seq()
  redis.call('ZADD', ready_key(t.queue, t.type), fmt(score), t.id)
  set_state(t, 'queued')
end

local function push_delayed(t, at)
  redis.call('ZADD', DELAYED, fmt(at), t.id)
  redis.call('HSET', task_key(t.id), 'ready_at', fmt(at))
  set_state(t, 'delayed')
end

local function expire_finished(id)
  if RETENTION > 0 then
    redis.call('PEXPIRE', task_key(id), fmt(RETENTION))
    redis.call('PEXPIRE', hist_key(id), fmt(RETENTION))
  end
end

-- Same formula as BackoffPolicy::DelayFor (shared/src/backoff.cc): base * mult^(n-1),
-- capped at max, truncated; with jitter, truncated again after scaling by unit.
local function backoff(t, failed_attempt, unit)
  if failed_attempt < 1 then failed_attempt = 1 end
  local mult = math.max(tonumber(t.b_mult), 1.0)
  local d = tonumber(t.b_base) * math.pow(mult, failed_attempt - 1)
  d = math.floor(math.min(d, tonumber(t.b_max)))
  if t.b_jit == '1' then
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

local function mark_cancelled(t, reason)
  set_state(t, 'cancelled')
  redis.call('HSET', task_key(t.id), 'reason', reason, 'finished', fmt(NOW))
  redis.call('HINCRBY', stats_key(t.queue), 'cancelled', 1)
  expire_finished(t.id)
end

-- Cancels a task that is not running (queued, delayed or blocked). Returns true if it was.
local function cancel_now(t, reason)
  if TERMINAL[t.state] or t.state == 'running' then return false end
  if t.state == 'queued' then
    redis.call('ZREM', ready_key(t.queue, t.type), t.id)
  elseif t.state == 'delayed' then
    redis.call('ZREM', DELAYED, t.id)
  end
  mark_cancelled(t, reason)
  return true
end

-- Cancels every unfinished descendant of a task that will never succeed; returns their ids.
local function cascade(id, reason, out)
  out = out or {}
  local stack = {id}
  while #stack > 0 do
    local cur = table.remove(stack)
    local dk = deps_key(cur)
    local children = redis.call('SMEMBERS', dk)
    redis.call('DEL', dk)
    for _, cid in ipairs(children) do
      local c = load(cid)
      if c and cancel_now(c, reason) then
        out[#out + 1] = cid
        stack[#stack + 1] = cid
      end
    end
  end
  return out
end

-- A task whose parents have all succeeded: to its ready queue, or delayed until not_before.
local function release(t)
  local nbf = tonumber(t.nbf) or 0
  if nbf > NOW then push_delayed(t, nbf) else push_ready(t) end
end

local function remove_lease(t)
  redis.call('ZREM', LEASES, t.id)
  if t.worker ~= '' then redis.call('SREM', wleases_key(t.worker), t.id) end
end

-- Keeps a queue's dead letters bounded by age (retention) and count (DEAD_MAX).
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
end

-- Records a failed attempt of a running task whose lease is already removed: retry after
-- backoff, dead letter (last attempt or not retryable), or cancelled (cancel was requested).
-- Returns the finish item {status, id, queue, batch, ready_at, attempt, released, cancelled}.
local function fail_attempt(t, code, msg, retryable)
  local id = t.id
  local att = tonumber(t.att) or 0
  local r = retryable and '1' or '0'
  redis.call('RPUSH', hist_key(id), code, msg, r)
  redis.call('LTRIM', hist_key(id), -300, -1)
  redis.call('HSET', task_key(id), 'err_code', code, 'err_msg', msg, 'err_retry', r)
  if t.cancel ~= '' then
    mark_cancelled(t, t.cancel)
    return {'cancelled', id, t.queue, t.batch, 0, att, {}, cascade(id, 'dependency_failed')}
  end
  if retryable and att < (tonumber(t.max_att) or 1) then
    local at = NOW + backoff(t, att, next_unit())
    push_delayed(t, at)
    redis.call('HINCRBY', stats_key(t.queue), 'retried', 1)
    return {'retry', id, t.queue, t.batch, at, att, {}, {}}
  end
  set_state(t, 'failed')
  redis.call('HSET', task_key(id), 'finished', fmt(NOW))
  redis.call('HINCRBY', stats_key(t.queue), 'failed', 1)
  redis.call('ZADD', dead_key(t.queue), fmt(NOW), id)
  expire_finished(id)
  trim_dead(t.queue)
  return {'dead', id, t.queue, t.batch, 0, att, {}, cascade(id, 'dependency_failed')}
end

-- Finishes batches whose every task is terminal and snapshots each touched batch:
-- {id, flat HGETALL of batch:<id>}.
local function batch_snapshots()
  local out = {}
  for _, b in ipairs(touched_order) do
    local bk = batch_key(b)
    local h = redis.call('HMGET', bk, 'state', 'total', 'n:succeeded', 'n:failed', 'n:cancelled')
    if h[1] == 'running' then
      local total = tonumber(h[2]) or 0
      local ok, failed, cancelled = tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5]) or 0
      if ok + failed + cancelled >= total then
        local state = 'partial'
        if ok == total then state = 'succeeded' elseif ok == 0 then state = 'failed' end
        redis.call('HSET', bk, 'state', state, 'finished', fmt(NOW))
        if RETENTION > 0 then
          redis.call('PEXPIRE', bk, fmt(RETENTION))
          redis.call('PEXPIRE', bk .. ':tasks', fmt(RETENTION))
          redis.call('PEXPIRE', bk .. ':names', fmt(RETENTION))
        end
      end
    end
    out[#out + 1] = {b, redis.call('HGETALL', bk)}
  end
  return out
end

-- Every script ends with `return finish(result)`.
local function finish(result)
  flush_seq()
  return result
end

