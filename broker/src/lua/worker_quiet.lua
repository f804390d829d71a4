-- worker_quiet.lua: quiets or unquiets a worker (`taskmill worker quiet|unquiet`, WORKER
-- 0x0D), or reads which workers are quiet.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2], a msgpack map (store_args.cc, WorkerQuietArgs):
--   {worker, quiet (bool), ttl (ms)}: set or clear worker's record; or
--   {read = {worker ids}, ttl (ms)}: which are quiet; their records' TTLs start again (the
--   broker holding a worker reads its record every few seconds).
-- Keys: quiet:<worker> = '1' with PX ttl (new, no migration). A quiet worker is leased
--   nothing new by whichever broker it is connected to (the broker reads the record when
--   the worker registers and every heartbeat tick, and hears of a change on the cluster bus
--   at once). The TTL is the clean-up: a record of a worker that never comes back goes away
--   on its own; a worker stays quiet at most that long after the last quiet.
-- Returns (msgpack): {quiet = the ids (of `read`, or {worker}) that are quiet now}.
-- Errors: TM_INVALID_ARGUMENT (no worker to set, or a ttl that is not positive).

local out = {}
local ttl = tonumber(A.ttl) or 0
if ttl <= 0 then return redis.error_reply('TM_INVALID_ARGUMENT worker_quiet needs a ttl') end
if A.read then
  for _, w in ipairs(A.read) do
    if redis.call('PEXPIRE', P .. 'quiet:' .. w, fmt(ttl)) == 1 then
      out[#out + 1] = w
    end
  end
  return reply({quiet = out})
end
local w = A.worker
if type(w) ~= 'string' or w == '' then
  return redis.error_reply('TM_INVALID_ARGUMENT worker_quiet needs a worker')
end
if A.quiet then
  redis.call('SET', P .. 'quiet:' .. w, '1', 'PX', fmt(ttl))
  out[1] = w
else
  redis.call('DEL', P .. 'quiet:' .. w)
end
return reply({quiet = out})
