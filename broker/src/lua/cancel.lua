-- cancel.lua: cancels tasks by id.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack array, read in order
-- (args[i] below is its i-th element):
-- args[1] reason   args[2] owner ("" = any)   args[3] N, then N task ids
-- A task owned by someone else than a non-empty args[2] is reported not_found, untouched.
-- queued / delayed / blocked: cancelled at once (removed from its zset, state cancelled,
--   reason recorded, TTL set) and its unfinished descendants cancelled (dependency_failed).
-- running: the hash gets cancel=<reason>; the attempt's DONE (or its failure) then ends it
--   as cancelled, and extend.lua reports it on each heartbeat.
-- Returns: {items, batches}; items[i] is one of
--   {"cancelled", id, {cancelled descendant ids}}
--   {"cancel_requested", id, worker, token}
--   {"finished", id, state}     already terminal: nothing changed
--   {"not_found", id}

local reason = arg()
local owner = arg()
local n = argn()
local out = {}
for i = 1, n do
  local id = arg()
  local t = load(id)
  if t and owner ~= '' and t.owner ~= owner then t = nil end
  if not t then
    out[i] = {'not_found', id}
  elseif TERMINAL[t.state] then
    out[i] = {'finished', id, t.state}
  elseif t.state == 'running' then
    redis.call('HSET', task_key(id), 'cancel', reason)
    out[i] = {'cancel_requested', id, t.worker, t.tok}
  else
    cancel_now(t, reason)
    out[i] = {'cancelled', id, cascade(t, 'dependency_failed')}
  end
end
return finish({out, batch_snapshots()})
