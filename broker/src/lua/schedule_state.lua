-- schedule_state.lua: pauses, resumes or removes one schedule.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
--   name  the schedule
--   op    pause | resume | remove
--   next  resume: the first tick from now (epoch ms, decimal string), computed by the broker
-- pause: paused = 1, next_run = 0, out of sched:due (no broker claims its ticks: the tick
--   claim in enqueue.lua checks paused too, so a tick being fired as it pauses is refused).
-- resume: a paused schedule gets next_run = next and is due again (ticks that passed while it
--   was paused are neither run nor counted missed); resuming a running one changes nothing.
-- remove: deletes sched:<name> and its entries in sched:all and sched:due.
-- Returns (msgpack): {hash = flat HGETALL of sched:<name> (empty after remove)}.
-- Errors: TM_NOT_FOUND no such schedule; TM_INVALID_ARGUMENT a bad op.

local name, op = A.name or '', A.op or ''
local sk = P .. 'sched:' .. name
if redis.call('EXISTS', sk) == 0 then
  return redis.error_reply('TM_NOT_FOUND no schedule named ' .. name)
end
if op == 'pause' then
  redis.call('HSET', sk, 'paused', '1', 'next_run', '0')
  redis.call('ZREM', P .. 'sched:due', name)
elseif op == 'resume' then
  if redis.call('HGET', sk, 'paused') == '1' then
    if type(A.next) ~= 'string' then
      return redis.error_reply('TM_INVALID_ARGUMENT resume needs next')
    end
    redis.call('HSET', sk, 'paused', '0', 'next_run', A.next)
    redis.call('ZADD', P .. 'sched:due', A.next, name)
  end
elseif op == 'remove' then
  redis.call('DEL', sk)
  redis.call('ZREM', P .. 'sched:due', name)
  redis.call('ZREM', P .. 'sched:all', name)
else
  return redis.error_reply('TM_INVALID_ARGUMENT unknown op ' .. op)
end
return reply({hash = redis.call('HGETALL', sk)})
