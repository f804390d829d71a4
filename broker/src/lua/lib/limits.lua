-- limits.lua: per-queue limits and fairness (`taskmill queue limit`), prepended after
-- prelude.lua. Enforced by claim.lua, atomically, whichever broker claims.
--
-- Keys (new in layout 5; old data simply lacks them, no migration):
--   limq           set of the queues with a limit or fairness setting. Each call reads its
--                  size once (SCARD): with no limit anywhere, that is all the claim, enqueue
--                  and promote paths pay.
--   lim:<q>        hash, the queue's settings (store/limit_spec.h writes them): rate_n,
--                  rate_ms (rate_n tasks per rate_ms), conc (concurrency cap), cost_name,
--                  cost_amt, cost_ms (spend of cost_name over a sliding cost_ms window),
--                  key (label: every limit applies per value of it; "" = per queue),
--                  aging_ms (priority aging period), rr ('1': round robin between the
--                  values of `key` within a priority), text (the setting, as STATS shows it).
--   lrun:<q>       hash, '=' .. key value -> leases counted against conc. Incremented by
--                  claim; decremented by remove_lease (prelude.lua) on every path that ends
--                  a lease, through the task's lk field; a field that reaches 0 is deleted.
--   lrate:<q>:=<k> hash {tok, ts}: a token bucket of capacity max(1, rate * 500 ms),
--                  refilled continuously; expires once full.
--   lcost:<q>:=<k> hash bucket index -> spend: 20 buckets of cost_ms / 20 each; expires
--                  after two windows.
--   lrr:<q>        hash, '=' .. key value -> that value's last virtual time; '' -> the
--                  virtual time of the last claimed task (start-time fair queueing).

local LIM = {}
local lim_any = nil  -- SCARD limq > 0, read once per call
local lim_cfg = {}   -- queue -> settings table, or false (none)

local LIM_NUM = {rate_n = true, rate_ms = true, conc = true, cost_amt = true, cost_ms = true,
                 aging_ms = true}

-- The settings of queue q (nil: none). One SCARD per call, then one HGETALL per queue.
local function limit_cfg(q)
  if lim_any == nil then lim_any = redis.call('SCARD', P .. 'limq') > 0 end
  if not lim_any then return nil end
  local c = lim_cfg[q]
  if c == nil then
    local h = redis.call('HGETALL', P .. 'lim:' .. q)
    c = false
    if #h > 0 then
      c = {rate_n = 0, rate_ms = 0, conc = 0, cost_name = '', cost_amt = 0, cost_ms = 0,
           key = '', aging_ms = 0, rr = false, text = ''}
      for j = 1, #h, 2 do
        local f, v = h[j], h[j + 1]
        if LIM_NUM[f] then c[f] = tonumber(v) or 0
        elseif f == 'rr' then c.rr = v == '1'
        else c[f] = v end
      end
      c.limited = c.rate_n > 0 or c.conc > 0 or c.cost_ms > 0
    end
    lim_cfg[q] = c
  end
  return c or nil
end
LIM.cfg = limit_cfg

-- The value of the queue's key label on a task (spec bytes), '' when it has none.
local function limit_key(c, spec)
  if c.key == '' or not spec then return '' end
  local labels = select(15, cmsgpack.unpack_limit(spec, 14))
  if type(labels) ~= 'table' then return '' end
  local v = labels[c.key]
  return type(v) == 'string' and v or ''
end
LIM.key = limit_key

ready_score_for = function(q, prio, spec, id, since)
  local c = limit_cfg(q)
  if not c or (c.aging_ms <= 0 and not c.rr) then return ready_score(prio) end
  local step = 255 - tonumber(prio)
  if c.aging_ms > 0 then
    -- A task waiting one period ranks with one a step higher made ready now: score =
    -- step * period + now (ms), then FIFO (the sequence's last three digits, as thousandths:
    -- exact, as a double's spacing at 2^41 ms is 2^-12).
    local at = math.min(since or NOW, NOW)
    return string.format('%.3f', step * c.aging_ms + at + (next_seq() % 1000) / 1000)
  end
  -- Round robin: each key value's tasks get virtual times 1, 2, ... from where the claims
  -- are (lrr ''), so within a priority the values take turns whatever their backlogs.
  if not spec and id then spec = redis.call('HGET', task_key(id), 'spec') end
  local rk = P .. 'lrr:' .. q
  local f = '=' .. limit_key(c, spec)
  local h = redis.call('HMGET', rk, f, '')
  local vt = math.max(tonumber(h[1]) or 0, tonumber(h[2]) or 0) + 1
  redis.call('HSET', rk, f, fmt(vt))
  return fmt(step * SEQ_SPAN + vt)
end

-- Claim-side state of this call: lrun counts, buckets and spends read once per key.
local lim_run, lim_bucket, lim_spend, lim_bucket_order = {}, {}, {}, {}

local function lim_running(q, f)
  local k = q .. '\0' .. f
  local n = lim_run[k]
  if not n then
    n = tonumber(redis.call('HGET', P .. 'lrun:' .. q, f)) or 0
    lim_run[k] = n
  end
  return n, k
end

local function lim_tokens(c, q, f)
  local k = P .. 'lrate:' .. q .. ':' .. f
  local b = lim_bucket[k]
  if not b then
    local cap = math.max(1, c.rate_n * 500 / c.rate_ms)
    local h = redis.call('HMGET', k, 'tok', 'ts')
    local tok, ts = tonumber(h[1]), tonumber(h[2])
    if not tok or not ts then
      tok = cap
    else
      tok = math.min(cap, tok + math.max(0, NOW - ts) * c.rate_n / c.rate_ms)
    end
    b = {tok = tok, cap = cap, per_ms = c.rate_n / c.rate_ms, used = false}
    lim_bucket[k] = b
    lim_bucket_order[#lim_bucket_order + 1] = k
  end
  return b
end

-- Spend of the key's cost over the window (expired buckets are dropped on the way).
local function lim_window(c, q, f)
  local k = P .. 'lcost:' .. q .. ':' .. f
  local s = lim_spend[k]
  if not s then
    local width = c.cost_ms / 20
    local oldest = math.floor(NOW / width) - 19
    local h = redis.call('HGETALL', k)
    s = 0
    local old = {}
    for j = 1, #h, 2 do
      if tonumber(h[j]) < oldest then old[#old + 1] = h[j] else s = s + tonumber(h[j + 1]) end
    end
    if #old > 0 then redis.call('HDEL', k, unpack(old)) end
    lim_spend[k] = s
  end
  return s
end

-- Whether the task (its spec, its ready score) may be claimed now from limited queue q;
-- if so its share is taken (lease counted, token spent) and the task's lk value returned.
-- Nil: held back (the task stays ready; stats:<q>.throttled counts it).
function LIM.admit(c, q, spec, score)
  local kv = limit_key(c, spec)
  local f = '=' .. kv
  local running, rkey
  if c.conc > 0 then
    running, rkey = lim_running(q, f)
    if running >= c.conc then return nil end
  end
  local b
  if c.rate_n > 0 then
    b = lim_tokens(c, q, f)
    if b.tok < 1 then return nil end
  end
  if c.cost_ms > 0 and lim_window(c, q, f) >= c.cost_amt then return nil end
  if b then
    b.tok = b.tok - 1
    b.used = true
  end
  if rkey then
    lim_run[rkey] = running + 1
    redis.call('HINCRBY', P .. 'lrun:' .. q, f, 1)
  end
  return (rkey and '1' or '0') .. f
end

-- A task of queue q with ready score `score` was claimed: a round-robin queue's claims move
-- its virtual time on (the latest claimed, written once per call by LIM.flush).
local lim_vt, lim_vt_order = {}, {}
function LIM.claimed(q, score)
  local c = limit_cfg(q)
  if not c or not c.rr then return end
  local vt = score % SEQ_SPAN
  if not lim_vt[q] then lim_vt_order[#lim_vt_order + 1] = q end
  if vt > (lim_vt[q] or 0) then lim_vt[q] = vt end
end

-- Writes back the buckets this call spent from and the round-robin virtual times (claim.lua,
-- at its end).
function LIM.flush()
  for _, k in ipairs(lim_bucket_order) do
    local b = lim_bucket[k]
    if b.used then
      redis.call('HSET', k, 'tok', string.format('%.6f', b.tok), 'ts', NOW_S)
      -- Once full again the bucket is the same as none.
      redis.call('PEXPIRE', k, fmt(math.ceil((b.cap - b.tok) / b.per_ms) + 1000))
    end
  end
  lim_bucket, lim_bucket_order = {}, {}
  for _, q in ipairs(lim_vt_order) do
    local rk = P .. 'lrr:' .. q
    if lim_vt[q] > (tonumber(redis.call('HGET', rk, '')) or 0) then
      redis.call('HSET', rk, '', fmt(lim_vt[q]))
    end
  end
  lim_vt, lim_vt_order = {}, {}
end

-- Records an attempt's costs against its queue's cost rate (finish.lua): `costs` as
-- {{name, amount}, ...}, lk the task's lk field ('' = claimed with no limit set).
function LIM.spent(q, lk, costs)
  local c = limit_cfg(q)
  if not c or c.cost_ms <= 0 then return end
  local f = lk ~= '' and string.sub(lk, 2) or (c.key == '' and '=' or nil)
  if not f then return end
  for _, e in ipairs(costs) do
    if e[1] == c.cost_name then
      local k = P .. 'lcost:' .. q .. ':' .. f
      redis.call('HINCRBYFLOAT', k, fmt(math.floor(NOW / (c.cost_ms / 20))), e[2])
      redis.call('PEXPIRE', k, fmt(c.cost_ms * 2))
    end
  end
end
