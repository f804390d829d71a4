-- batch_end.lua: the end of every script, prepended after prelude.lua (broker/CMakeLists.txt,
-- TASKMILL_LUA_PRELUDE): batches whose last task ended (the finally task and its summary,
-- the batch snapshots the broker publishes) and finish()/reply(), which every script returns
-- through. Split from prelude.lua, whose locals it uses; the concatenation is one chunk.

-- The finally task's summary (its payload, compact JSON): each task's output is cut to
-- FINALLY_OUTPUT_MAX bytes, and once FINALLY_OUTPUTS_MAX bytes of outputs are in, the rest are
-- left out; either way the task's entry has output_bytes (the whole size) and truncated.
local FINALLY_OUTPUT_MAX = 4096
local FINALLY_OUTPUTS_MAX = 262144

-- The batch summary a finally task receives: {batch_id, state, total, counts {state = n},
-- cost {name = sum}, budget_exceeded, tasks {name = {id, state, output, output_bytes,
-- truncated?, error? {code, message}}}}.
local function batch_summary(b, bk, state)
  local h = redis.call('HGETALL', bk)
  local counts, cost, total, over = {}, {}, 0, false
  for j = 1, #h, 2 do
    local k, v = h[j], h[j + 1]
    local pre = string.sub(k, 1, 2)
    if pre == 'n:' then
      local n = tonumber(v) or 0
      if n > 0 then counts[string.sub(k, 3)] = n end
    elseif pre == 'c:' then
      cost[string.sub(k, 3)] = tonumber(v) or 0
    elseif k == 'total' then
      total = tonumber(v) or 0
    elseif k == 'budget_exceeded' then
      over = v == '1'
    end
  end
  local tasks, left = {}, FINALLY_OUTPUTS_MAX
  local names = redis.call('HGETALL', bk .. ':names')
  for j = 1, #names, 2 do
    local id = names[j + 1]
    local v = redis.call('HMGET', task_key(id), 'state', 'res', 'err_code', 'err_msg')
    local out = ''
    if v[2] then
      local _, _, _, o = cmsgpack.unpack_limit(v[2], 3)
      out = type(o) == 'string' and o or ''
    end
    local e = {id = id, state = v[1] or 'unknown', output_bytes = #out}
    local keep = math.min(#out, FINALLY_OUTPUT_MAX, left)
    e.output = string.sub(out, 1, keep)
    left = left - keep
    if keep < #out then e.truncated = true end
    if v[1] ~= 'succeeded' and v[3] and v[3] ~= '' then
      e.error = {code = v[3], message = v[4] or ''}
    end
    tasks[names[j]] = e
  end
  return cjson.encode({batch_id = b, state = state, total = total, counts = counts,
                       cost = cost, budget_exceeded = over, tasks = tasks})
end

-- Stores a batch's finally task (batch:<id> fid, kept by enqueue.lua) as ready, its payload
-- the batch summary, once: only the call that ends the batch gets here (batch_snapshots), and
-- a task that exists already is left alone. Scored as every enqueue is (ready_score_for).
local function start_finally(b, bk, state)
  local f = redis.call('HMGET', bk, 'fid', 'fspec', 'fq', 'ft', 'fp')
  local id, spec = f[1], f[2]
  if not id or not spec or redis.call('EXISTS', task_key(id)) == 1 then return end
  local t = {id = id, state = '', queue = f[3] or 'default', type = f[4] or '', batch = '',
             prio = tonumber(f[5]) or 0, hist = ''}
  redis.call('HSET', task_key(id), 'spec', spec, 'payload', batch_summary(b, bk, state),
             'ready_at', NOW_S)
  redis.call('HDEL', bk, 'fspec')
  redis.call('ZADD', QUEUES, '0', t.queue)
  bump(stats_key(t.queue), 'submitted', 1)
  push_ready(t)
end

-- Finishes batches whose every task is terminal and snapshots each touched batch:
-- {id, flat HGETALL of batch:<id>}. A batch that ends here starts its finally task.
local function batch_snapshots()
  flush_bumps()
  local out = {}
  for _, b in ipairs(touched_order) do
    local bk = batch_key(b)
    local h = redis.call('HMGET', bk, 'state', 'total', 'n:succeeded', 'n:failed', 'n:cancelled',
                         'n:expired')
    if h[1] == 'running' then
      local total = tonumber(h[2]) or 0
      local ok, failed, cancelled = tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5]) or 0
      -- An expired task ends its batch's count like a failed one (issue 22).
      failed = failed + (tonumber(h[6]) or 0)
      if ok + failed + cancelled >= total then
        local state = 'partial'
        if ok == total then state = 'succeeded' elseif ok == 0 then state = 'failed' end
        redis.call('HSET', bk, 'state', state, 'finished', NOW_S)
        start_finally(b, bk, state)
        if RETENTION > 0 then
          redis.call('PEXPIRE', bk, RETENTION_S)
          redis.call('PEXPIRE', bk .. ':tasks', RETENTION_S)
          redis.call('PEXPIRE', bk .. ':names', RETENTION_S)
        end
      end
    end
    out[#out + 1] = {b, redis.call('HGETALL', bk)}
  end
  return out
end

-- Every script ends with `return finish(result)` (a Redis array reply) or `return
-- reply(result)` (msgpack): writes what was collected during the call.
local function finish(result)
  flush_leases()
  for _, q in ipairs(dead_order) do trim_dead(q) end
  for _, q in ipairs(done_order) do
    call_chunked('RPUSH', done_key(q), done_adds[q])
    trim_done(q)
  end
  done_adds, done_order = {}, {}
  flush_bumps()
  refile_queues()
  flush_seq()
  return result
end
local function reply(result) return cmsgpack.pack(finish(result)) end

