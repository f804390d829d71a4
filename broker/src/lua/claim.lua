-- claim.lua: leases up to N ready tasks to one worker, highest priority first and FIFO within
-- a priority, across the queues (and task types) the worker serves.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] worker id   ARGV[9] lease ms   ARGV[10] N (max tasks)
-- then Q, Q queue names, then T, T task types (T = 0: any type known in those queues),
-- then N fencing tokens (decimal uint64, random, from the broker: fencing_token.h)
-- Writes: removes from q:<queue>:<type> (and the type from types:<queue> once its zset is
--   empty); task hash (state running, att+1, tok = the next token of ARGV, started,
--   worker); leases zset (deadline = now + lease, never past now + timeout + grace);
--   wleases:<worker>; stats:<queue>.running.
-- Returns: {tasks, batches}; tasks[i] = {id, token, attempt, queue, type, payload, timeout_ms,
--   batch, name, {label k, v, ...}, {parent name, parent output, ...}, waited ms}
--   The fencing token is random (unguessable) and is returned as a decimal string: Lua numbers
--   are doubles and would round a 64-bit token.
-- Errors: none besides malformed arguments.

local worker = arg()
local lease = argn()
local n = argn()
local queues = {}
for _ = 1, argn() do queues[#queues + 1] = arg() end
local types = {}
for _ = 1, argn() do types[#types + 1] = arg() end
local tokens = {}
for _ = 1, n do tokens[#tokens + 1] = arg() end

-- Candidates: the head N of every ready zset the worker can run, merged by score.
local cands = {}
local key_type = {}  -- ready zset -> {queue, type}
local wanted = {}    -- the worker's types, as a set
for _, ty in ipairs(types) do wanted[ty] = true end
for _, q in ipairs(queues) do
  local qtypes = types
  if #types == 0 then
    qtypes = redis.call('SMEMBERS', types_key(q))
  else
    -- types:<queue> lists the types with ready tasks: when it is the smaller set, read only
    -- those of its types the worker runs (a worker at --max-worker-claim-keys otherwise
    -- reads up to 1,024 ready sets, nearly all empty, on every claim).
    local ready_types = redis.call('SCARD', types_key(q))
    if ready_types < #types then
      qtypes = {}
      if ready_types > 0 then
        for _, ty in ipairs(redis.call('SMEMBERS', types_key(q))) do
          if wanted[ty] then qtypes[#qtypes + 1] = ty end
        end
      end
    end
  end
  for _, ty in ipairs(qtypes) do
    local key = ready_key(q, ty)
    key_type[key] = {q, ty}
    local r = redis.call('ZRANGE', key, 0, n - 1, 'WITHSCORES')
    for j = 1, #r, 2 do cands[#cands + 1] = {key, r[j], tonumber(r[j + 1])} end
  end
end
table.sort(cands, function(a, b) return a[3] < b[3] end)

-- Everything claim needs from a task in one HMGET.
local CLAIM_FIELDS = {'state', 'queue', 'type', 'batch', 'att', 'tok', 'timeout', 'name',
                      'payload', 'parents', 'nl', 'created', 'ready_at'}
local lease_s = fmt(NOW + lease)  -- the deadline of every lease without a shorter timeout
local out = {}
local removed, removed_order = {}, {}
local lease_args, wl = {}, {}
for i = 1, math.min(n, #cands) do
  local key, id = cands[i][1], cands[i][2]
  if not removed[key] then
    removed[key] = {}
    removed_order[#removed_order + 1] = key
  end
  local rk = removed[key]
  rk[#rk + 1] = id
  local tk = task_key(id)
  local v = redis.call('HMGET', tk, unpack(CLAIM_FIELDS))
  if v[1] == 'queued' then
    local t = {id = id, state = 'queued', queue = v[2], type = v[3], batch = v[4] or ''}
    local att = (tonumber(v[5]) or 0) + 1
    local tok = tokens[#out + 1]
    local timeout = tonumber(v[7]) or 0
    local deadline_s = lease_s
    if timeout > 0 and timeout + LEASE_GRACE < lease then
      deadline_s = fmt(NOW + timeout + LEASE_GRACE)
    end
    set_state(t, 'running', {'att', fmt(att), 'tok', tok, 'started', NOW_S, 'worker', worker})
    lease_args[#lease_args + 1] = deadline_s
    lease_args[#lease_args + 1] = id
    wl[#wl + 1] = id
    local labels = {}
    if (tonumber(v[11]) or 0) > 0 then
      local h = redis.call('HGETALL', tk)
      for j = 1, #h, 2 do
        if string.sub(h[j], 1, 2) == 'l:' then
          labels[#labels + 1] = string.sub(h[j], 3)
          labels[#labels + 1] = h[j + 1]
        end
      end
    end
    local parents = {}
    if v[10] and v[10] ~= '' then
      for pid in string.gmatch(v[10], '[^,]+') do
        local pv = redis.call('HMGET', task_key(pid), 'name', 'output')
        if pv[1] then
          parents[#parents + 1] = (pv[1] ~= '' and pv[1]) or pid
          parents[#parents + 1] = pv[2] or ''
        end
      end
    end
    -- How long it waited to be claimed (the broker's taskmill_task_wait_seconds): since it
    -- was created, or since a delay or retry made it due.
    local since = math.max(tonumber(v[12]) or NOW, tonumber(v[13]) or 0)
    out[#out + 1] = {id, tok, att, t.queue, t.type, v[9] or '', timeout, t.batch, v[8] or '',
                     labels, parents, math.max(0, NOW - since)}
  end
end
for _, key in ipairs(removed_order) do
  call_chunked('ZREM', key, removed[key])
  prune_type(key_type[key][1], key_type[key][2])
end
call_chunked('ZADD', LEASES, lease_args)
call_chunked('SADD', wleases_key(worker), wl)

return finish({out, batch_snapshots()})
