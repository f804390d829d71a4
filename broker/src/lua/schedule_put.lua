-- schedule_put.lua: adds a periodic schedule, or replaces the definition of one by that name.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
--   name   the schedule's name ([A-Za-z0-9_.-]{1,128}, checked by the broker)
--   def    its definition: a SCHEDULE add body (the broker's codec), stored as it comes
--   next   the first tick (epoch ms, decimal string), computed by the broker from def
--   owner  the CURVE key of the client that added it ("" = none): its tasks are owned by it
-- Writes: sched:<name> hash {def, owner, next_run, paused, fired, missed, last_run,
--   last_task}; sched:all (zset, score 0: every name, in name order); sched:due (zset:
--   name -> next_run, only schedules that are not paused). A replaced schedule keeps its
--   counters, its last run and its paused state (a deploy that re-adds its schedules does not
--   resume one an operator paused); a running one moves to the new `next`, so a tick claimed
--   against the old one (schedule_ticker: enqueue.lua's tick) is refused.
-- Returns (msgpack): {created = true|false, hash = flat HGETALL of sched:<name>}.

local name, def, nxt = A.name, A.def, A.next
if type(name) ~= 'string' or type(def) ~= 'string' or type(nxt) ~= 'string' then
  return redis.error_reply('TM_INVALID_ARGUMENT schedule_put needs name, def and next')
end
local sk = P .. 'sched:' .. name
local paused = redis.call('HGET', sk, 'paused')
local created = paused == false
redis.call('HSET', sk, 'def', def, 'owner', A.owner or '')
if paused == '1' then
  redis.call('HSET', sk, 'next_run', '0')
else
  redis.call('HSET', sk, 'next_run', nxt, 'paused', '0')
  redis.call('ZADD', P .. 'sched:due', nxt, name)
end
redis.call('ZADD', P .. 'sched:all', '0', name)
return reply({created = created, hash = redis.call('HGETALL', sk)})
