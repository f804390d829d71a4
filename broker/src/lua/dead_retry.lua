-- dead_retry.lua: sends dead letters back to their ready queues with attempts reset.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {queue ("" = every queue), limit, ids = task ids} (no ids: the oldest `limit` dead letters of the queue(s))
-- Each task still dead: removed from dead:<queue>, att = 0, error cleared (history kept),
--   TTLs removed, pushed to q:<queue>:<type>; a finished batch it belongs to runs again.
--   The next claim draws a new random fencing token, so results of old attempts stay stale.
-- Returns (msgpack): {ids = retried ids, batches}

local out = {}
for _, t in ipairs(dead_letters_selected()) do
  local id = t.id
  local tk = task_key(id)
  redis.call('ZREM', dead_key(t.queue), id)
  -- exp too: a dead letter started once, and an operator's retry never expires (issue 22).
  redis.call('HDEL', tk, 'err_code', 'err_msg', 'err_retry', 'finished', 'ready_at', 'cancel',
             'exp')
  redis.call('PERSIST', tk)
  if t.hist == '1' then redis.call('PERSIST', hist_key(id)) end
  if t.batch ~= '' then
    local bk = batch_key(t.batch)
    if redis.call('HGET', bk, 'state') ~= 'running' then
      redis.call('HSET', bk, 'state', 'running')
      redis.call('HDEL', bk, 'finished', 'cp')
      redis.call('PERSIST', bk)
      redis.call('PERSIST', bk .. ':tasks')
      redis.call('PERSIST', bk .. ':names')
    end
  end
  push_ready(t, {'att', '0'})
  out[#out + 1] = id
end
return reply({ids = out, batches = batch_snapshots()})
