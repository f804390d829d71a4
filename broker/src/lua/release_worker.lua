-- release_worker.lua: a worker is gone; all its leases fail at once as retryable.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map: {worker = worker id,
--   keep = {task id, ...} (optional)}
-- Each task in wl:<worker> that is still running on that worker and not in keep: lease
--   removed, attempt failed with code worker_lost, retryable (finish.lua's rules). Without
--   keep, wl:<worker> is deleted; with it (a worker that moved here from another broker and
--   re-registered with its `running` list), the kept leases stay in it.
-- Returns (msgpack): {items, batches}; items as finish.lua.

local worker = A.worker or ''
local wk = wleases_key(worker)
local keep = {}
local keeping = false
for _, id in ipairs(A.keep or {}) do
  keep[id] = true
  keeping = true
end
local out = {}
for _, id in ipairs(redis.call('HKEYS', wk)) do
  if not keep[id] then
    local t = load(id)
    if t and t.state == 'running' and t.worker == worker then
      remove_lease(t)
      out[#out + 1] = fail_attempt(t, 'worker_lost', 'worker ' .. worker .. ' was lost', true)
    end
    if keeping then redis.call('HDEL', wk, id) end
  end
end
if not keeping then redis.call('DEL', wk) end
return reply({items = out, batches = batch_snapshots()})
