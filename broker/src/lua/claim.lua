-- claim.lua: leases ready tasks to several workers, one request after the other in the
-- order given (each as if it ran alone): up to N per request, highest priority first and FIFO
-- within a priority, across the queues (and task types) that request's worker serves.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2], a msgpack map (store_args.cc, ClaimArgs):
--   claims {{worker, lease (ms), n (max tasks), queues {names}, types {names} (empty: any type
--   known in those queues), tokens {n fencing tokens, decimal strings: random uint64 from the
--   broker, fencing_token.h; Lua numbers are doubles and would round them}}, ...}
-- Writes: removes from q:<queue>:<type> (and the type from types:<queue> once its zset is
--   empty); task hash (state running, att+1, started, worker: one HSET); leases zset
--   (deadline = now + lease, never past now + timeout + grace); wl:<worker> (task id -> the
--   next token: the only place the token is kept); stats:<queue>.running.
-- Returns (msgpack): {claims = {{tasks = {{id, tok, att, spec, payload, waited, parents},
--   ...}, held = tasks passed over because of a limit (absent: none)}, ...}, batches}: one
--   entry per request, in order; spec and payload are the record's bytes, untouched (the
--   broker decodes the spec: task_record.h); waited = ms since created or due (the broker's
--   taskmill_task_wait_seconds); parents = {parent name, its output, ...} (absent for a task
--   without parents); perr = {parent name, error code, message, retryable '1'|'0', ...}: the
--   parents that did not succeed (absent when none; only an on_failure=continue batch runs
--   a child of a parent that died), left out of parents; ps = a polled task's state value for this check (absent when it has
--   none).
--   exp (absent: none) = {item, ...}: tasks met past their start deadline (task field exp,
--   issue 22: only for attempt 0) and ended expired instead of leased (lib/prelude.lua
--   expire_task); each item is a finish item of status expired (s, id, q, b, at, att, and
--   rel, can, ff, creq as a dead task's: its batch's on_failure, expiry_item). The one HMGET
--   per candidate reads exp too: no extra Redis call for tasks without one; a task with one
--   costs a ZREM of expiring when leased, and a load + the expiry writes when expired.
--   The on_failure action (releasing children, cancelling the rest of a fail_fast batch) runs
--   after every request's scan and the call's writes: done during a scan, it would add to or
--   remove from a ready zset that later requests read by offset past what earlier ones took
--   (a ready task skipped, a taken one read again), and it would find the tasks this call
--   leased without their fencing tokens (wl:<worker> is written last). So a fail_fast member leased by this very
--   call is stopped as a running one is (cancel requested: CANCEL_TASK after its TASK).
-- Limits (lib/limits.lua): a task of a queue with a rate, concurrency or cost-rate limit is
--   leased only if LIM.admit lets it through (else it stays ready and stats:<queue>.throttled
--   counts it); such a queue's zsets are read LIMIT_SCAN past their head. With no limit
--   anywhere this costs one SCARD per call.
-- Paused queues (queue_pause.lua): nothing of a queue in the set `paused` is leased (its tasks
--   stay ready). With no queue paused this costs one SCARD per call; else one SISMEMBER per
--   queue named by the call.
-- Errors: none besides malformed arguments (checked for every request before any write).

local claims = A.claims or {}
for _, req in ipairs(claims) do
  local n = tonumber(req.n) or 0
  if type(req.worker) ~= 'string' or #(req.tokens or {}) < n then
    return redis.error_reply('TM_INVALID_ARGUMENT claim needs a worker and n tokens')
  end
end

local NO_PARENTS = {}  -- shared, never written
-- Tasks met past their start deadline and ended expired here: their loaded records during
-- the scans, each replaced by its expiry_item once the call's writes are done (the reply's
-- `exp`, absent when none).
local expired = {}

-- What the requests take, written once per call after the last of them: the ids taken from
-- each ready zset (always a prefix of it: each request takes the best by score), the new
-- leases and each worker's lease set. A later request reads a ready zset past what earlier
-- requests took from it.
local removed, removed_order, key_type = {}, {}, {}  -- ready zset -> ids / {queue, type}
local lease_args = {}
local wl, wl_order = {}, {}
-- Ids taken by this call (a limited queue's are not a prefix of its zset) and how far past
-- its head a limited queue is read for tasks its limits let through.
local taken = {}
local LIMIT_SCAN = 64
local held = 0  -- tasks the current request passed over because of a limit

-- types:<queue> does not change during the call (prune_type runs after the last request), so
-- each queue's is read once per call: its members, or only its size.
local type_members, type_counts = {}, {}
local function ready_types_of(q)
  local m = type_members[q]
  if not m then
    m = redis.call('SMEMBERS', types_key(q))
    type_members[q], type_counts[q] = m, #m
  end
  return m
end
local function ready_type_count(q)
  local c = type_counts[q]
  if not c then
    c = redis.call('SCARD', types_key(q))
    type_counts[q] = c
  end
  return c
end

local paused_any = redis.call('SCARD', P .. 'paused') > 0
local paused_q = {}  -- queue -> true/false, read once per call
local function open_queues(queues)
  if not paused_any then return queues end
  local open = {}
  for _, q in ipairs(queues) do
    local p = paused_q[q]
    if p == nil then
      p = redis.call('SISMEMBER', P .. 'paused', q) == 1
      paused_q[q] = p
    end
    if not p then open[#open + 1] = q end
  end
  return open
end

-- One request: its leased tasks, as the reply lists them.
local function claim_one(req)
  local worker = req.worker
  local lease = tonumber(req.lease) or 0
  local n = tonumber(req.n) or 0
  local queues = open_queues(req.queues or {})
  local types = req.types or {}
  local tokens = req.tokens or {}

  -- Candidates: the head N of every ready zset the worker can run, merged by score.
  local cands = {}
  local wanted = {}    -- the worker's types, as a set
  for _, ty in ipairs(types) do wanted[ty] = true end
  for _, q in ipairs(queues) do
    local qtypes = types
    if #types == 0 then
      qtypes = ready_types_of(q)
    else
      -- types:<queue> lists the types with ready tasks: when it is the smaller set, read only
      -- those of its types the worker runs (a worker at --max-worker-claim-keys otherwise
      -- reads up to 1,024 ready sets, nearly all empty, on every claim).
      local ready_types = ready_type_count(q)
      if ready_types < #types then
        qtypes = {}
        if ready_types > 0 then
          for _, ty in ipairs(ready_types_of(q)) do
            if wanted[ty] then qtypes[#qtypes + 1] = ty end
          end
        end
      end
    end
    local lc = limit_cfg(q)
    if lc and not lc.limited then lc = nil end
    for _, ty in ipairs(qtypes) do
      local key = ready_key(q, ty)
      key_type[key] = {q, ty}
      local off = removed[key] and #removed[key] or 0
      if not lc then
        local r = redis.call('ZRANGE', key, off, off + n - 1, 'WITHSCORES')
        for j = 1, #r, 2 do cands[#cands + 1] = {key, r[j], tonumber(r[j + 1])} end
      else
        -- A limited queue's head may be held back (another key value over its limit): read
        -- LIMIT_SCAN more, past what earlier requests took (not a prefix any more).
        local r = redis.call('ZRANGE', key, 0, off + n + LIMIT_SCAN - 1, 'WITHSCORES')
        for j = 1, #r, 2 do
          if not taken[r[j]] then cands[#cands + 1] = {key, r[j], tonumber(r[j + 1]), lc, q} end
        end
      end
    end
  end
  table.sort(cands, function(a, b) return a[3] < b[3] end)

  local lease_s = fmt(NOW + lease)  -- the deadline of every lease without a shorter timeout
  local out = {}
  held = 0
  for i = 1, #cands do
    if #out >= n then break end
    local key, id = cands[i][1], cands[i][2]
    -- Everything claim needs from a task in one HMGET; the spec is decoded only for the fields
    -- a transition needs, and sent on as it is.
    local tk = task_key(id)
    local v = redis.call('HMGET', tk, 'state', 'att', 'ready_at', 'spec', 'payload', 'pstate',
                         'exp')
    local lc, lk = cands[i][4], nil
    -- A start deadline (expires_in_ms, issue 22) counts for the first attempt only: past it,
    -- the task leaves its ready zset (as a taken one does) and ends expired, never leased.
    local first = v[7] and v[1] == 'queued' and (tonumber(v[2]) or 0) == 0
    if first and tonumber(v[7]) <= NOW then
      local t = load(id)
      if t and expire_task(t, false) then expired[#expired + 1] = t end
      if not removed[key] then
        removed[key] = {}
        removed_order[#removed_order + 1] = key
      end
      local rk = removed[key]
      rk[#rk + 1] = id
      if lc then taken[id] = true end
      v = nil
      first = false
    end
    if lc and v and v[1] == 'queued' and v[4] then
      lk = LIM.admit(lc, cands[i][5], v[4], cands[i][3])
      if not lk then
        bump(stats_key(cands[i][5]), 'throttled', 1)
        held = held + 1
        v = nil  -- held back by a limit: stays ready
      end
    end
    if v and not removed[key] then
      removed[key] = {}
      removed_order[#removed_order + 1] = key
    end
    if v then
      local rk = removed[key]
      rk[#rk + 1] = id
      if lc then taken[id] = true end
    end
    if v and v[1] == 'queued' and v[4] then
      -- The spec's fields claim needs, straight into locals (record.lua's order; no table
      -- of every field per task as decode_spec builds).
      local _, queue, _, batch, _, _, _, timeout, _, _, created, _, _, parent_ids =
        cmsgpack.unpack_limit(v[4], SPEC_LUA_FIELDS)
      local t = {id = id, state = 'queued', queue = queue or '', batch = batch or ''}
      timeout = timeout or 0
      local att = (tonumber(v[2]) or 0) + 1
      local tok = tokens[#out + 1]
      local deadline_s = lease_s
      if timeout > 0 and timeout + LEASE_GRACE < lease then
        deadline_s = fmt(NOW + timeout + LEASE_GRACE)
      end
      if lk then
        redis.call('HSET', tk, 'state', 'running', 'att', att, 'started', NOW_S, 'worker', worker,
                   'lk', lk)
      else
        redis.call('HSET', tk, 'state', 'running', 'att', att, 'started', NOW_S, 'worker', worker)
      end
      state_written(t, 'running')
      -- Started: its start deadline no longer applies (the `exp` field stays, inert).
      if first then redis.call('ZREM', EXPIRING, id) end
      if lim_any then LIM.claimed(queue, cands[i][3]) end
      lease_args[#lease_args + 1] = deadline_s
      lease_args[#lease_args + 1] = id
      push_keyed(wl, wl_order, worker, id, tok)
      local parents = nil  -- left out of the reply when the task has no parents
      local perr = nil     -- parents that did not succeed (an on_failure=continue batch)
      for _, pid in ipairs(parent_ids or NO_PARENTS) do
        parents = parents or {}
        local pv = redis.call('HMGET', task_key(pid), 'spec', 'res', 'state', 'err_code',
                              'err_msg', 'err_retry')
        if pv[1] then
          local name = select(5, cmsgpack.unpack_limit(pv[1], 4)) or ''  -- the 4th field only
          name = (name ~= '' and name) or pid
          if pv[3] and pv[3] ~= 'succeeded' then
            -- Its error, not its output: a child runs after a parent that died only in a
            -- continue batch (member_died in lib/prelude.lua).
            perr = perr or {}
            perr[#perr + 1] = name
            perr[#perr + 1] = (pv[4] and pv[4] ~= '') and pv[4] or pv[3]
            perr[#perr + 1] = pv[5] or ''
            perr[#perr + 1] = pv[6] == '1' and '1' or '0'
          else
            local output = ''
            if pv[2] then
              local _, _, _, o = cmsgpack.unpack_limit(pv[2], 3)
              output = o or ''
            end
            parents[#parents + 1] = name
            parents[#parents + 1] = output
          end
        end
      end
      -- How long it waited to be claimed: since it was created, or since a delay or retry made
      -- it due.
      local since = math.max(created or 0, tonumber(v[3]) or 0)
      out[#out + 1] = {id = id, tok = tok, att = att, spec = v[4], payload = v[5] or '',
                       waited = math.max(0, NOW - since), parents = parents, ps = v[6] or nil,
                       perr = perr}
    end
  end
  return out
end

local results = {}
for i, req in ipairs(claims) do
  results[i] = {tasks = claim_one(req)}
  if held > 0 then results[i].held = held end
end
for _, key in ipairs(removed_order) do
  call_chunked('ZREM', key, removed[key])
  prune_type(key_type[key][1], key_type[key][2])
end
call_chunked('ZADD', LEASES, lease_args)
LIM.flush()
for _, w in ipairs(wl_order) do call_chunked('HSET', wleases_key(w), wl[w]) end
-- Only now, with no ready zset being read and every lease written, the expired tasks' batch
-- policies act (see `exp` above).
for i, t in ipairs(expired) do expired[i] = expiry_item(t) end
return reply({claims = results, batches = batch_snapshots(),
              exp = #expired > 0 and expired or nil})
