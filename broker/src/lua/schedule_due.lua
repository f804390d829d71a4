-- schedule_due.lua: the schedules whose next tick has come (every broker's ticker, often).
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map: {limit}
-- Returns (msgpack): {items = {{name, hash = flat HGETALL of sched:<name>}, ...} of at most
--   `limit` schedules with next_run <= now, earliest first; total = how many schedules exist}.
--   A name in sched:due whose hash is gone (removed) is dropped from the set on the way.
-- Reads only (but that clean-up): the tick itself is claimed by enqueue.lua (A.tick).

local limit = tonumber(A.limit) or 0
local due = P .. 'sched:due'
local names = redis.call('ZRANGEBYSCORE', due, '-inf', fmt(NOW), 'LIMIT', 0, limit)
local out = {}
for _, name in ipairs(names) do
  local h = redis.call('HGETALL', P .. 'sched:' .. name)
  if #h == 0 then
    redis.call('ZREM', due, name)
  else
    out[#out + 1] = {name = name, hash = h}
  end
end
return reply({items = out, total = redis.call('ZCARD', P .. 'sched:all')})
