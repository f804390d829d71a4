-- bind_workers.lua: binds worker ids to the CURVE key that registered them, across brokers.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {ttl = TTL ms of a binding, pairs = {{worker = worker id, key = Z85 public key}, ...}}
-- Writes: wkey:<worker id> = key (PX TTL) when it is unset or already that key (a refresh).
-- Returns (msgpack): {bound}: bound[i] = '' when pair i is bound (now or already) to its key,
--   else the key it is bound to (another key registered that worker id first, through some
--   broker).
-- Errors: none besides malformed arguments.

local ttl = fmt(tonumber(A.ttl) or 0)
local out = {}
for i, pair in ipairs(A.pairs or {}) do
  local worker, key = pair.worker, pair.key
  local wk = P .. 'wkey:' .. worker
  local cur = redis.call('GET', wk)
  if cur and cur ~= key then
    out[i] = cur
  else
    redis.call('SET', wk, key, 'PX', ttl)
    out[i] = ''
  end
end
return reply({bound = out})
