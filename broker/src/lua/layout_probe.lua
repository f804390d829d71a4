-- layout_probe.lua: which layout version the store holds, and the migration lock.
--
-- KEYS[1], ARGV[1]: see prelude.lua; only the prefix is read. ARGV[2]: a msgpack map:
-- {want = the broker's layout version (kStoreLayoutVersion, store_layout.h),
--  token = lock token (random, per broker start), ttl = lock TTL ms}
-- The version lives in <prefix>layout. A store without it is read as:
--   version 1 when <prefix>queues (v1's queue set, never pruned, so present in every v1 store
--   that was ever used) or <prefix>layout:mig (a migration under way) exists;
--   version 2 when <prefix>qindex exists (written by a v2 broker from before the key; the
--   key is written then, so an interrupted v2 -> v3 step is never mistaken for v1);
--   empty otherwise: it gets want.
-- A store older than want takes the lock <prefix>layout:lock (SET NX PX) for this token.
-- Writes: <prefix>layout (empty store, or a v2 store without the key); <prefix>layout:lock
--   (taken here, kept across the steps, deleted here once the store is current).
-- Returns: {verdict, store version}: verdict 'current' | 'newer' (refuse to start) |
--   'migrate' (the lock is this token's: run the step from that version) | 'wait' (another
--   broker holds the lock: probe again later).

local LAYOUT = P .. 'layout'
local LOCK = P .. 'layout:lock'
local want = tonumber(A.want)
local token = A.token or ''
local ttl = fmt(tonumber(A.ttl) or 0)

local v = tonumber(redis.call('GET', LAYOUT) or '')
if not v then
  if redis.call('EXISTS', P .. 'queues') == 1 or redis.call('EXISTS', P .. 'layout:mig') == 1 then
    v = 1
  elseif redis.call('EXISTS', P .. 'qindex') == 1 then
    v = 2
    redis.call('SET', LAYOUT, fmt(v))
  else
    v = want
    redis.call('SET', LAYOUT, fmt(v))
  end
end
if v == want then
  -- A broker that ran the last step holds the lock still (a step keeps it, so no other
  -- broker takes over between two steps): released once the store is current.
  if redis.call('GET', LOCK) == token then redis.call('DEL', LOCK) end
  return {'current', v}
end
if v > want then return {'newer', v} end
if redis.call('GET', LOCK) == token or redis.call('SET', LOCK, token, 'NX', 'PX', ttl) then
  redis.call('PEXPIRE', LOCK, ttl)
  return {'migrate', v}
end
return {'wait', v}
