-- claim.lua: leases up to N ready tasks to one worker, highest priority first and FIFO within
-- a priority, across the queues (and task types) the worker serves.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] worker id   ARGV[9] lease ms   ARGV[10] N (max tasks)
-- then Q, Q queue names, then T, T task types (T = 0: any type known in those queues)
-- Writes: removes from q:<queue>:<type>; task hash (state running, att+1, tok+1, started,
--   worker); leases zset (deadline = now + lease, never past now + timeout + grace);
--   wleases:<worker>; stats:<queue>.running.
-- Returns: {tasks, batches}; tasks[i] = {id, token, attempt, queue, type, payload, timeout_ms,
--   batch, name, {label k, v, ...}, {parent name, parent output, ...}}
--   The fencing token is a per-task claim counter that never resets.
-- Errors: none besides malformed arguments.

local worker = arg()
local lease = argn()
local n = argn()
local queues = {}
for _ = 1, argn() do queues[#queues + 1] = arg() end
local types = {}
for _ = 1, argn() do types[#types + 1] = arg() end

-- Candidates: the head N of every ready zset the worker can run, merged by score.
local cands = {}
for _, q in ipairs(queues) do
  local qtypes = types
  if #types == 0 then qtypes = redis.call('SMEMBERS', types_key(q)) end
  for _, ty in ipairs(qtypes) do
    local key = ready_key(q, ty)
    local r = redis.call('ZRANGE', key, 0, n - 1, 'WITHSCORES')
    for j = 1, #r, 2 do cands[#cands + 1] = {key, r[j], tonumber(r[j + 1])} end
  end
end
table.sort(cands, function(a, b) return a[3] < b[3] end)

local out = {}
local wk = wleases_key(worker)
for i = 1, math.min(n, #cands) do
  local key, id = cands[i][1], cands[i][2]
  redis.call('ZREM', key, id)
  local t = load(id)
  if t and t.state == 'queued' then
    local tk = task_key(id)
    local att = redis.call('HINCRBY', tk, 'att', 1)
    local tok = redis.call('HINCRBY', tk, 'tok', 1)
    local deadline = NOW + lease
    local timeout = tonumber(t.timeout) or 0
    if timeout > 0 then deadline = math.min(deadline, NOW + timeout + LEASE_GRACE) end
    redis.call('HSET', tk, 'started', fmt(NOW), 'worker', worker)
    redis.call('HDEL', tk, 'cancel')
    set_state(t, 'running')
    redis.call('ZADD', LEASES, fmt(deadline), id)
    redis.call('SADD', wk, id)
    local h = redis.call('HGETALL', tk)
    local f = {}
    local labels = {}
    for j = 1, #h, 2 do
      f[h[j]] = h[j + 1]
      if string.sub(h[j], 1, 2) == 'l:' then
        labels[#labels + 1] = string.sub(h[j], 3)
        labels[#labels + 1] = h[j + 1]
      end
    end
    local parents = {}
    if f.parents and f.parents ~= '' then
      for pid in string.gmatch(f.parents, '[^,]+') do
        local pv = redis.call('HMGET', task_key(pid), 'name', 'output')
        if pv[1] then
          parents[#parents + 1] = (pv[1] ~= '' and pv[1]) or pid
          parents[#parents + 1] = pv[2] or ''
        end
      end
    end
    out[#out + 1] = {id, tok, att, t.queue, t.type, f.payload or '', timeout, t.batch, t.name,
                     labels, parents}
  end
end

return finish({out, batch_snapshots()})
