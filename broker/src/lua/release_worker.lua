-- release_worker.lua: a worker is gone; all its leases fail at once as retryable.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map: {worker = worker id}
-- Each task in wl:<worker> that is still running on that worker: lease removed, attempt
--   failed with code worker_lost, retryable (finish.lua's rules). wl:<worker> is deleted.
-- Returns (msgpack): {items, batches}; items as finish.lua.

local worker = A.worker or ''
local wk = wleases_key(worker)
local out = {}
for _, id in ipairs(redis.call('HKEYS', wk)) do
  local t = load(id)
  if t and t.state == 'running' and t.worker == worker then
    remove_lease(t)
    out[#out + 1] = fail_attempt(t, 'worker_lost', 'worker ' .. worker .. ' was lost', true)
  end
end
redis.call('DEL', wk)
return reply({items = out, batches = batch_snapshots()})
