-- extend.lua: a worker's heartbeat pushes all its lease deadlines forward.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {worker = worker id, lease = lease ms}
-- New deadline = now + lease ms, but never past started + timeout_ms + grace for tasks with a
--   timeout. Stale entries of wl:<worker> (no longer running there) are dropped.
-- Returns (msgpack): {count = extended, flagged = {{id, tok, reason}, ...}}: flagged names
--   running tasks whose cancellation was requested, so the broker can (re)tell the worker.

local worker = A.worker or ''
local lease = tonumber(A.lease) or 0
local wk = wleases_key(worker)
local count = 0
local flagged = {}
local held = redis.call('HGETALL', wk)
for j = 1, #held, 2 do
  local id, tok = held[j], held[j + 1]
  local t = load(id)
  if t and t.state == 'running' and t.worker == worker then
    local deadline = NOW + lease
    local timeout = tonumber(t.timeout) or 0
    if timeout > 0 then
      deadline = math.min(deadline, (tonumber(t.started) or NOW) + timeout + LEASE_GRACE)
    end
    redis.call('ZADD', LEASES, 'XX', fmt(deadline), id)
    count = count + 1
    if t.cancel ~= '' then flagged[#flagged + 1] = {id = id, tok = tok, reason = t.cancel} end
  else
    redis.call('HDEL', wk, id)
  end
end
return reply({count = count, flagged = flagged})
