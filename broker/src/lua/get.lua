-- get.lua: reads tasks' full state.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack array, read in order
-- (args[i] below is its i-th element):
-- args[1] owner ("" = any), args[2] N, then N task ids
-- Returns: items[i] = {} when the task is unknown (or expired) or owned by someone else than
--   a non-empty args[1] (a caller sees another client's task as unknown), else
--   {flat HGETALL of task:<id> (the record: record.lua), LRANGE of hist:<id> (code, message,
--   retryable triples), id}
-- Read only.

local owner = arg()
local n = argn()
local out = {}
for i = 1, n do
  local id = arg()
  local h = {}
  if owner == '' or task_owner(id) == owner then
    h = redis.call('HGETALL', task_key(id))
  end
  if #h == 0 then
    out[i] = {}
  else
    out[i] = {h, redis.call('LRANGE', hist_key(id), 0, -1), id}
  end
end
return finish(out)
