-- bind_workers.lua: binds worker ids to the CURVE key that registered them, across brokers.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack array, read in order
-- (args[i] below is its i-th element):
-- args[1] TTL ms of a binding   args[2] N, then N pairs (worker id, key: Z85 public key)
-- Writes: wkey:<worker id> = key (PX TTL) when it is unset or already that key (a refresh).
-- Returns: out[i] = '' when pair i is bound (now or already) to its key, else the key it is
--   bound to (another key registered that worker id first, through some broker).
-- Errors: none besides malformed arguments.

local ttl = arg()
local n = argn()
local out = {}
for i = 1, n do
  local worker, key = arg(), arg()
  local wk = P .. 'wkey:' .. worker
  local cur = redis.call('GET', wk)
  if cur and cur ~= key then
    out[i] = cur
  else
    redis.call('SET', wk, key, 'PX', ttl)
    out[i] = ''
  end
end
return finish(out)
