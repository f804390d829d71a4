-- The Redis ceiling of scripts/bench.sh: one task's whole Redis work in taskmill (enqueue,
-- claim, finish, and the read-back that feeds its RESULT), as the commands taskmill's scripts
-- run per task (taskmill-bench reports them from INFO commandstats: ~3 HSET, 2 HMGET, HGETALL,
-- ZADD, HINCRBYFLOAT, PEXPIRE, LRANGE, EXISTS per task). Not taskmill's code: a stand-in with
-- the same commands and field sizes, so redis-benchmark can say how many tasks/s this Redis
-- could carry if it did nothing else.
-- KEYS: none. ARGV: task ids (one call handles them all). Returns: how many.
local P = 'ceil:'
local now = '1763800000000'
local payload = string.rep('x', 100)
local q = P .. 'q:default:echo'
local stats = P .. 'stats:default'
for i = 1, #ARGV do
  local id = ARGV[i]
  local k = P .. 'task:' .. id
  -- enqueue
  redis.call('EXISTS', k)
  redis.call('HSET', k, 'queue', 'default', 'type', 'echo', 'payload', payload, 'prio', '0',
             'max_att', '3', 'b_base', '1000', 'b_max', '60000', 'b_mult', '2', 'b_jit', '0',
             'timeout', '0', 'state', 'queued', 'att', '0', 'tok', '0', 'created', now)
  redis.call('ZADD', q, i, id)
  -- claim
  redis.call('ZREM', q, id)
  redis.call('HMGET', k, 'queue', 'type', 'payload', 'timeout', 'batch', 'name', 'tok', 'att')
  redis.call('HSET', k, 'state', 'running', 'att', '1', 'tok', '1', 'started', now, 'worker', 'w1')
  -- finish
  redis.call('HMGET', k, 'state', 'tok', 'queue', 'batch', 'att', 'kids')
  redis.call('HSET', k, 'state', 'succeeded', 'output', payload, 'finished', now, 'dur', '0')
  redis.call('HINCRBYFLOAT', stats, 'c:cpu_ms', '0.1')
  redis.call('PEXPIRE', k, 604800000)
  -- read back for the RESULT
  redis.call('HGETALL', k)
  redis.call('LRANGE', P .. 'hist:' .. id, 0, -1)
end
redis.call('HINCRBY', stats, 'succeeded', #ARGV)
return #ARGV
