-- schedule_list.lua: reads schedules, in name order.
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
--   names  (optional) exactly these schedules; otherwise every one
--   after  (optional) list only names after this one ("" = from the first)
--   limit  at most this many
-- Returns (msgpack): {items = {{name, hash = flat HGETALL of sched:<name>}, ...}, total =
--   how many schedules exist}; a name in `names` that does not exist is left out.

local limit = tonumber(A.limit) or 0
local names = A.names
local all = P .. 'sched:all'
if type(names) ~= 'table' then
  local from = (A.after or '') == '' and '-' or '(' .. A.after
  names = redis.call('ZRANGEBYLEX', all, from, '+', 'LIMIT', 0, limit)
end
local out = {}
for _, name in ipairs(names) do
  if #out >= limit then break end
  local h = redis.call('HGETALL', P .. 'sched:' .. name)
  if #h > 0 then out[#out + 1] = {name = name, hash = h} end
end
return reply({items = out, total = redis.call('ZCARD', all)})
