-- dead_list.lua: lists dead letters, newest first.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {queue ("" = every queue), limit}
-- Returns (msgpack): {tasks} as get.lua ({hash, hist, id}); ids whose hash expired are
--   dropped from dead:<queue> on the way.

local queue = A.queue or ''
local limit = tonumber(A.limit) or 0
local queues = {queue}
if queue == '' then queues = redis.call('ZRANGE', QUEUES, 0, -1) end
local cands = {}
for _, q in ipairs(queues) do
  local r = redis.call('ZREVRANGE', dead_key(q), 0, limit - 1, 'WITHSCORES')
  for j = 1, #r, 2 do cands[#cands + 1] = {q, r[j], tonumber(r[j + 1])} end
end
table.sort(cands, function(a, b) return a[3] > b[3] end)
local out = {}
for _, c in ipairs(cands) do
  if #out >= limit then break end
  local h = redis.call('HGETALL', task_key(c[2]))
  if #h == 0 then
    redis.call('ZREM', dead_key(c[1]), c[2])
    touch_queue(c[1])
  else
    out[#out + 1] = {hash = h, hist = redis.call('LRANGE', hist_key(c[2]), 0, -1), id = c[2]}
  end
end
return reply({tasks = out})
