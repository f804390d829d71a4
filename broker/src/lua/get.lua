-- get.lua: reads tasks' full state.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {owner ("" = any), ids = task ids}
-- Returns (msgpack): {tasks}: tasks[i] = {} when the task is unknown (or expired) or owned by
--   someone else than a non-empty owner (a caller sees another client's task as unknown), else
--   {hash = flat HGETALL of task:<id> (the record: record.lua), hist = LRANGE of hist:<id>
--   (code, message, retryable triples), id}
-- Read only.

local owner = A.owner or ''
local out = {}
for i, id in ipairs(A.ids or {}) do
  local h = {}
  if owner == '' or task_owner(id) == owner then
    h = redis.call('HGETALL', task_key(id))
  end
  if #h == 0 then
    out[i] = {}
  else
    out[i] = {hash = h, hist = redis.call('LRANGE', hist_key(id), 0, -1), id = id}
  end
end
return reply({tasks = out})
