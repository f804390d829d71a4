-- reap.lua: fails, as retryable, every lease whose deadline has passed.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {limit = max leases to reap in this call}
-- Each expired lease: removed, and the attempt failed with code lease_expired (or timeout when
--   the task's own timeout_ms + grace has passed), retryable, exactly as finish.lua fails it.
-- Returns (msgpack): {items, batches, next = the earliest lease deadline ms (-1: no leases)};
--   items as finish.lua.

local limit = tonumber(A.limit) or 0
local ids = redis.call('ZRANGEBYSCORE', LEASES, '-inf', NOW_S, 'LIMIT', 0, limit)
local out = {}
for _, id in ipairs(ids) do
  local t = load(id)
  redis.call('ZREM', LEASES, id)
  if t and t.state == 'running' then
    remove_lease(t)
    local timeout = tonumber(t.timeout) or 0
    local started = tonumber(t.started) or NOW
    if timeout > 0 and NOW >= started + timeout + LEASE_GRACE then
      out[#out + 1] = fail_attempt(t, 'timeout', 'attempt exceeded its timeout', true)
    else
      out[#out + 1] = fail_attempt(t, 'lease_expired', 'lease expired without a heartbeat', true)
    end
  end
end
local due = redis.call('ZRANGEBYSCORE', AWAITING, '-inf', NOW_S, 'LIMIT', 0, limit)
for _, id in ipairs(due) do
  local t = load(id)
  redis.call('ZREM', AWAITING, id)
  if t and t.state == 'awaiting' then
    redis.call('HDEL', task_key(id), 'ctok')
    out[#out + 1] = fail_attempt(t, 'await_expired',
                                 'no completion arrived before its await deadline', true)
  end
end
local nxt = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
local next_deadline = -1
if #nxt > 0 then next_deadline = tonumber(nxt[2]) end
return reply({items = out, batches = batch_snapshots(), next = next_deadline})
