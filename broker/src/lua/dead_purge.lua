-- dead_purge.lua: deletes dead letters for good.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] queue ("" = every queue)   ARGV[9] limit   ARGV[10] N, then N task ids
--   (N = 0: up to `limit` dead letters of the queue(s))
-- Each task still dead: removed from dead:<queue>; task:<id> and hist:<id> deleted.
-- Returns: purged ids.

local queue = arg()
local limit = argn()
local ids = {}
for _ = 1, argn() do ids[#ids + 1] = arg() end
if #ids == 0 then
  local queues = {queue}
  if queue == '' then queues = redis.call('SMEMBERS', QUEUES) end
  for _, q in ipairs(queues) do
    for _, id in ipairs(redis.call('ZRANGE', dead_key(q), 0, limit - 1)) do
      if #ids < limit then ids[#ids + 1] = id end
    end
  end
end
local out = {}
for _, id in ipairs(ids) do
  local t = load(id)
  if t and t.state == 'failed' and (queue == '' or t.queue == queue) then
    redis.call('ZREM', dead_key(t.queue), id)
    redis.call('DEL', task_key(id), hist_key(id))
    out[#out + 1] = id
  end
end
return finish(out)
