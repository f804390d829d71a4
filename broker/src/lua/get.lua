-- get.lua: reads tasks' full state.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] owner ("" = any), ARGV[9] N, then N task ids
-- Returns: items[i] = {} when the task is unknown (or expired) or owned by someone else than
--   a non-empty ARGV[8] (a caller sees another client's task as unknown), else
--   {flat HGETALL of task:<id>, LRANGE of hist:<id> (code, message, retryable triples)}
-- Read only.

local owner = arg()
local n = argn()
local out = {}
for i = 1, n do
  local id = arg()
  local h = {}
  if owner == '' or redis.call('HGET', task_key(id), 'owner') == owner then
    h = redis.call('HGETALL', task_key(id))
  end
  if #h == 0 then
    out[i] = {}
  else
    out[i] = {h, redis.call('LRANGE', hist_key(id), 0, -1)}
  end
end
return finish(out)
