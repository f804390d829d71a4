-- dead_purge.lua: deletes dead letters for good.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {queue ("" = every queue), limit, ids = task ids} (no ids: up to `limit` dead letters of the queue(s))
-- Each task still dead: removed from dead:<queue>; task:<id> and hist:<id> deleted.
-- Returns (msgpack): {ids = purged ids}

local out = {}
for _, t in ipairs(dead_letters_selected()) do
  local id = t.id
  redis.call('ZREM', dead_key(t.queue), id)
  redis.call('DEL', task_key(id), hist_key(id))
  touch_queue(t.queue)
  out[#out + 1] = id
end
return reply({ids = out})
