-- cancel.lua: cancels tasks by id.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {reason, owner ("" = any), ids = task ids, batch (optional)}
-- batch: a CANCEL of a whole batch (its ids are those the broker read): the batch is marked
--   cancelled (batch:<id> cx = 1, so enqueue.lua appends nothing more to it) and a member
--   not among `ids` (appended since that read) is cancelled too, its item after the others.
-- A task owned by someone else than a non-empty owner is reported not_found, untouched.
-- queued / delayed / blocked: cancelled at once (removed from its zset, state cancelled,
--   reason recorded, joins done:<queue>) and its unfinished descendants cancelled
--   (dependency_failed).
-- running: the hash gets cancel=<reason>; the attempt's DONE (or its failure) then ends it
--   as cancelled, and extend.lua reports it on each heartbeat.
-- Returns (msgpack): {items, batches}; items[i] is one of
--   {s = "cancelled", id, can = cancelled descendant ids}
--   {s = "cancel_requested", id, worker, tok}
--   {s = "finished", id, state}     already terminal: nothing changed
--   {s = "not_found", id}

local reason = A.reason or 'cancelled'
local owner = A.owner or ''
local ids = A.ids or {}
if A.batch and A.batch ~= '' then
  local bk = batch_key(A.batch)
  if redis.call('HGET', bk, 'state') == 'running' then
    redis.call('HSET', bk, 'cx', '1')
    local asked = {}
    for _, id in ipairs(ids) do asked[id] = true end
    for _, id in ipairs(redis.call('SMEMBERS', bk .. ':tasks')) do
      if not asked[id] then ids[#ids + 1] = id end
    end
  end
end
local out = {}
for i, id in ipairs(ids) do
  local t = load(id)
  if t and owner ~= '' and t.owner ~= owner then t = nil end
  if not t then
    out[i] = {s = 'not_found', id = id}
  elseif TERMINAL[t.state] then
    out[i] = {s = 'finished', id = id, state = t.state}
  elseif t.state == 'running' then
    redis.call('HSET', task_key(id), 'cancel', reason)
    local tok = lease_token(t)
    out[i] = {s = 'cancel_requested', id = id, worker = t.worker, tok = tok ~= '' and tok or '0'}
  else
    cancel_now(t, reason)
    out[i] = {s = 'cancelled', id = id, can = cascade(t, 'dependency_failed')}
  end
end
return reply({items = out, batches = batch_snapshots()})
