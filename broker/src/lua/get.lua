-- get.lua: reads tasks' full state.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] N, then N task ids
-- Returns: items[i] = {} when the task is unknown (or expired), else
--   {flat HGETALL of task:<id>, LRANGE of hist:<id> (code, message, retryable triples)}
-- Read only.

local n = argn()
local out = {}
for i = 1, n do
  local id = arg()
  local h = redis.call('HGETALL', task_key(id))
  if #h == 0 then
    out[i] = {}
  else
    out[i] = {h, redis.call('LRANGE', hist_key(id), 0, -1)}
  end
end
return finish(out)
