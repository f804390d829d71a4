-- dead_purge.lua: deletes dead letters for good.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] queue ("" = every queue)   ARGV[9] limit   ARGV[10] N, then N task ids
--   (N = 0: up to `limit` dead letters of the queue(s))
-- Each task still dead: removed from dead:<queue>; task:<id> and hist:<id> deleted.
-- Returns: purged ids.

local out = {}
for _, t in ipairs(dead_letters_selected()) do
  local id = t.id
  redis.call('ZREM', dead_key(t.queue), id)
  redis.call('DEL', task_key(id), hist_key(id))
  touch_queue(t.queue)
  out[#out + 1] = id
end
return finish(out)
