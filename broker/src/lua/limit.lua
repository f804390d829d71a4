-- limit.lua: sets or clears a queue's limits and fairness (`taskmill queue limit`, LIMIT).
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2], a msgpack map (store_args.cc, LimitArgs):
--   {queue, clear (bool), cfg = {rate_n, rate_ms, conc, cost_name, cost_amt, cost_ms, key,
--   aging_ms, rr ('1' or ''), text}} (lib/limits.lua; zero/empty fields are left out).
-- Writes lim:<queue> (replaced whole) and limq. lrun:<queue> is kept either way: leases
--   counted under an earlier setting still give their slot back when they end.
-- When the queue's fairness (aging period, round robin and its key) changes, its ready tasks
--   are re-scored in their current order under the new setting, at most RESCORE_MAX of them
--   (more: refused, nothing written).
-- Returns (msgpack): {text = the setting now ("" = none), rescored = tasks re-scored}.
-- Errors: TM_INVALID_ARGUMENT (too many ready tasks to re-score).

local RESCORE_MAX = 100000
local q = A.queue or ''
local new = A.cfg or {}
local old = limit_cfg(q)
local function fair(c)
  if not c then return '0||' end
  return fmt(tonumber(c.aging_ms) or 0) .. '|' .. ((c.rr == true or c.rr == '1') and '1' or '') ..
         '|' .. (c.key or '')
end
local before = fair(old)
local after = A.clear and fair(nil) or fair(new)

local keys = {}
if before ~= after then
  local total = 0
  for _, ty in ipairs(redis.call('SMEMBERS', types_key(q))) do
    keys[#keys + 1] = ready_key(q, ty)
    total = total + redis.call('ZCARD', ready_key(q, ty))
  end
  if total > RESCORE_MAX then
    return redis.error_reply('TM_INVALID_ARGUMENT queue ' .. q .. ' has ' .. fmt(total) ..
                             ' ready tasks; changing its aging or round robin re-scores them' ..
                             ' and the most it does at once is ' .. fmt(RESCORE_MAX))
  end
end

local lk = P .. 'lim:' .. q
redis.call('DEL', lk)
if A.clear then
  redis.call('SREM', P .. 'limq', q)
else
  local f = {}
  for k, v in pairs(new) do
    f[#f + 1] = k
    f[#f + 1] = type(v) == 'number' and string.format('%.17g', v) or tostring(v)
  end
  if #f > 0 then redis.call('HSET', lk, unpack(f)) end
  redis.call('SADD', P .. 'limq', q)
end
lim_any, lim_cfg = nil, {}  -- the scores below follow the new setting

local rescored = 0
if before ~= after then
  redis.call('DEL', P .. 'lrr:' .. q)  -- round robin starts over from the current order
  for _, key in ipairs(keys) do
    local ids = redis.call('ZRANGE', key, 0, -1)
    local args = {}
    for _, id in ipairs(ids) do
      local v = redis.call('HMGET', task_key(id), 'spec', 'ready_at')
      local spec = v[1]
      if spec then
        local _, _, _, _, _, prio, _, _, _, _, created = cmsgpack.unpack_limit(spec, 10)
        -- Aging counts from when it became ready, as if the setting had always been there.
        local since = math.max(tonumber(created) or 0, tonumber(v[2]) or 0)
        args[#args + 1] = ready_score_for(q, prio or 0, spec, id, since)
        args[#args + 1] = id
        rescored = rescored + 1
      end
    end
    call_chunked('ZADD', key, args)
  end
end
local c = limit_cfg(q)
return reply({text = c and c.text or '', rescored = rescored})
