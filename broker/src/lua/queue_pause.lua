-- queue_pause.lua: pauses or resumes a queue (`taskmill queue pause|resume`, QUEUE 0x0C).
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2], a msgpack map (store_args.cc, QueuePauseArgs):
--   {queue, paused (bool)}.
-- Writes: the set `paused` (queue names; new keys, no migration: old data simply lacks it).
--   claim.lua leases nothing of a queue in it; its tasks stay in their ready zsets (state
--   queued), submits, promotions and retries still add to them, and stats.lua shows it. The
--   set lives as long as the queue is paused, whatever the queue holds: a restarted broker
--   or any other broker on this Redis and prefix sees the same.
-- Returns (msgpack): {paused = the queue's state now, changed = whether this call changed it}.
-- Errors: none besides malformed arguments.

local q = A.queue
if type(q) ~= 'string' or q == '' then
  return redis.error_reply('TM_INVALID_ARGUMENT queue_pause needs a queue')
end
local changed
if A.paused then
  changed = redis.call('SADD', P .. 'paused', q) == 1
else
  changed = redis.call('SREM', P .. 'paused', q) == 1
end
return reply({paused = A.paused and true or false, changed = changed})
