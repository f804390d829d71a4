-- update.lua: changes one waiting task (UPDATE, protocol 8.29).
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
--   id        the task
--   op        'priority': a queued task is re-scored in its ready set at the new priority,
--             keeping its place in arrival order (its score moves by whole priority steps, so
--             FIFO within a priority and the wait a queue's aging credited it are kept); a
--             delayed or blocked task keeps it (field prio) for when it becomes ready.
--             'promote': a delayed task (not_before, a retry backoff or a poll wait) leaves
--             the delayed set and joins its ready set now, behind what is ready at its
--             priority.
--   priority  op priority: 0-255
--   owner     '' = any task; else a task owned by another key is not found
-- Returns (msgpack): {tasks = {{hash = flat HGETALL of the task without payload and result,
--   hist = {}, id}}}.
-- Errors: TM_NOT_FOUND (unknown id, or another owner's), TM_CONFLICT naming the task's state
--   when the op does not apply to it.

local id = A.id or ''
local owner = A.owner or ''
local t = load(id)
if not t or (owner ~= '' and t.owner ~= owner) then
  return redis.error_reply('TM_NOT_FOUND no task ' .. id)
end

if A.op == 'priority' then
  local p = tonumber(A.priority) or 0
  if t.state == 'queued' then
    local rk = ready_key(t.queue, t.type)
    local old = redis.call('ZSCORE', rk, id)
    if old then
      -- One priority step is SEQ_SPAN in a plain or round-robin score, the aging period in an
      -- aging one (lib/limits.lua, ready_score_for).
      local c = limit_cfg(t.queue)
      local delta = tonumber(t.prio) - p
      local score
      if c and c.aging_ms > 0 then
        score = string.format('%.3f', tonumber(old) + delta * c.aging_ms)
      else
        score = fmt(tonumber(old) + delta * SEQ_SPAN)
      end
      redis.call('ZADD', rk, score, id)
    end
  elseif t.state ~= 'delayed' and t.state ~= 'blocked' then
    return redis.error_reply('TM_CONFLICT task ' .. id .. ' is ' .. t.state ..
                             '; only a queued, delayed or blocked task can change priority')
  end
  redis.call('HSET', task_key(id), 'prio', fmt(p))
elseif A.op == 'promote' then
  if t.state ~= 'delayed' then
    return redis.error_reply('TM_CONFLICT task ' .. id .. ' is ' .. t.state ..
                             '; only a delayed task can be promoted')
  end
  redis.call('ZREM', DELAYED, id)
  push_ready(t)
else
  return redis.error_reply('TM_INVALID_ARGUMENT op: ' .. tostring(A.op) ..
                           ' is not an update (allowed: priority, promote)')
end

local h = {}
local v = redis.call('HGETALL', task_key(id))
for i = 1, #v, 2 do
  if v[i] ~= 'payload' and v[i] ~= 'res' then
    h[#h + 1] = v[i]
    h[#h + 1] = v[i + 1]
  end
end
return reply({tasks = {{hash = h, hist = {}, id = id}}})
