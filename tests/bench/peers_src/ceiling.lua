-- The Redis ceiling of scripts/bench.sh: one task's whole Redis work in taskmill (enqueue,
-- claim, finish), as the commands taskmill's scripts run per task (taskmill-bench reports
-- them from INFO commandstats: ~3 HSET, 2 HMGET, ZADD per task, plus the lease zset, the
-- worker's lease hash (its fencing token) and the queue's done list; layout 5: no PEXPIRE). A first attempt's RESULT is built by the broker,
-- so nothing is read back. Not taskmill's code: a stand-in with the same commands and field
-- sizes, so redis-benchmark can say how many tasks/s this Redis could carry if it did
-- nothing else.
-- KEYS: none. ARGV: task ids (one call handles them all). Returns: how many.
local P = 'ceil:'
local now = '1763800000000'
local payload = string.rep('x', 100)
local q = P .. 'q:default:echo'
local stats = P .. 'stats:default'
local leases = P .. 'leases'
local wleases = P .. 'wl:w1'
local done = P .. 'done:default'
for i = 1, #ARGV do
  local id = ARGV[i]
  local k = P .. 'task:' .. id
  -- enqueue
  redis.call('HSET', k, 'id', id, 'queue', 'default', 'type', 'echo', 'payload', payload,
             'prio', '0', 'max_att', '3', 'timeout', '0', 'created', now, 'bo', '1000,60000,2,0',
             'state', 'queued')
  redis.call('ZADD', q, i, id)
  -- claim
  redis.call('HMGET', k, 'state', 'queue', 'type', 'batch', 'att', 'tok', 'timeout', 'name',
             'payload', 'parents', 'nl')
  redis.call('HSET', k, 'state', 'running', 'att', '1', 'started', now, 'worker', 'w1')
  redis.call('ZREM', q, id)
  redis.call('ZADD', leases, now, id)
  redis.call('HSET', wleases, id, '1')
  -- finish
  redis.call('HMGET', k, 'state', 'queue', 'type', 'batch', 'prio', 'att', 'max_att', 'tok',
             'worker', 'bo', 'timeout', 'started', 'cancel', 'nbf', 'name', 'err_code', 'hist',
             'kids', 'created')
  redis.call('HSET', k, 'state', 'succeeded', 'output', payload, 'exit', '', 'stdout', '',
             'stderr', '', 'dur', '0', 'finished', now, 'c:wall_ms', '0')
  redis.call('RPUSH', done, id)
  redis.call('ZREM', leases, id)
  redis.call('HDEL', wleases, id)
end
redis.call('HINCRBY', stats, 'succeeded', #ARGV)
redis.call('HINCRBYFLOAT', stats, 'c:wall_ms', '0')
return #ARGV
