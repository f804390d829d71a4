-- layout_v3_v4.lua: one chunk of the migration from layout 3 to layout 4.
--
-- Layout 3: a task hash of ~20 fields, the spec written field by field (id, queue, type, name,
--   prio, max_att, timeout, bo "base,max,mult,jitter", idem, owner, nbf, nl, parents
--   "a,b,c", created, batch, l:<label>...), the result too (output, exit, stdout, stderr,
--   dur).
-- Layout 4 (record.lua): the immutable spec as one msgpack value (spec), the payload as is
--   (payload), the result as one msgpack value (res), and the mutable fields as they were
--   (state, att, tok, worker, started, ready_at, finished, err_*, c:*, pending, kids, hist,
--   cancel, reason): a running task keeps its fencing token and lease, a queued, delayed or
--   blocked one its place, a finished or dead one its TTL (HSET and HDEL keep it).
--
-- KEYS[1], ARGV[1]: see prelude.lua (prefix is read). ARGV[2]: a msgpack map:
-- {token = lock token, ttl = lock TTL ms, budget}: budget = task keys looked at in this call
--   (SCAN asks for at least 100 at a time).
-- Progress (the SCAN cursor) lives in <prefix>layout:mig4, written in the same atomic call as
-- the tasks it converted, so a broker that dies between calls leaves a state the next call
-- continues from (SCAN returns every key present for the whole scan at least once; a hash
-- that already has a spec is left alone, so a key seen twice is converted once).
-- Returns: {'lost'} when the lock is not this token's (nothing written); else {'more' | 'done',
--   tasks converted, tasks found converted already}.

local LAYOUT = P .. 'layout'
local LOCK = P .. 'layout:lock'
local MIG = P .. 'layout:mig4'
local token = A.token or ''
local ttl = fmt(tonumber(A.ttl) or 0)
local budget = math.max(1, tonumber(A.budget) or 1)

if redis.call('GET', LOCK) ~= token then return {'lost'} end
redis.call('PEXPIRE', LOCK, ttl)

local V3_SPEC = {'id', 'queue', 'type', 'name', 'prio', 'max_att', 'timeout', 'bo', 'idem',
                 'owner', 'nbf', 'nl', 'parents', 'created', 'batch', 'output', 'exit',
                 'stdout', 'stderr', 'dur'}

local function convert(k)
  local flat = redis.call('HGETALL', k)
  local h, labels, label_fields = {}, {}, {}
  for j = 1, #flat, 2 do
    local f = flat[j]
    h[f] = flat[j + 1]
    if string.sub(f, 1, 2) == 'l:' then
      labels[string.sub(f, 3)] = flat[j + 1]
      label_fields[#label_fields + 1] = f
    end
  end
  local base, max, mult, jit = string.match(h.bo or '', '^([^,]*),([^,]*),([^,]*),([^,]*)$')
  local parents = {}
  for pid in string.gmatch(h.parents or '', '[^,]+') do parents[#parents + 1] = pid end
  local spec = cmsgpack.pack(h.queue or '', h.type or '', h.batch or '', h.name or '',
                             tonumber(h.prio) or 0, tonumber(h.max_att) or 1,
                             tonumber(h.timeout) or 0,
                             {tonumber(base) or 0, tonumber(max) or 0, tonumber(mult) or 1,
                              jit == '1'},
                             tonumber(h.nbf) or 0, tonumber(h.created) or 0, h.owner or '',
                             h.idem or '', parents, labels)
  local f = {'spec', spec}
  if h.output or h.exit or h.stdout or h.stderr or h.dur then
    f[3] = 'res'
    f[4] = cmsgpack.pack(tonumber(h.dur) or 0, tonumber(h.exit or ''), h.output or '',
                         h.stdout or '', h.stderr or '')
  end
  redis.call('HSET', k, unpack(f))
  redis.call('HDEL', k, unpack(V3_SPEC))
  if #label_fields > 0 then redis.call('HDEL', k, unpack(label_fields)) end
end

-- The prefix is the operator's; escape what SCAN's MATCH would read as a pattern.
local pattern = (P .. 'task:'):gsub('[%*%?%[%]\\]', '\\%0') .. '*'
local cursor = redis.call('HGET', MIG, 'cursor') or '0'
local converted, found = 0, 0
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', math.max(budget, 100),
                       'TYPE', 'hash')
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    if redis.call('HEXISTS', k, 'spec') == 1 then
      found = found + 1
    elseif redis.call('HEXISTS', k, 'state') == 1 then
      convert(k)
      converted = converted + 1
    end
  end
  budget = budget - math.max(1, #r[2])
until cursor == '0' or budget <= 0

redis.call('HINCRBY', MIG, 'converted', converted)
redis.call('HINCRBY', MIG, 'found', found)
local c = redis.call('HMGET', MIG, 'converted', 'found')
local counts = {tonumber(c[1]) or 0, tonumber(c[2]) or 0}
if cursor == '0' then
  redis.call('SET', LAYOUT, '4')
  redis.call('DEL', MIG)  -- the lock stays: layout_probe.lua releases it
  return finish({'done', counts[1], counts[2]})
end
redis.call('HSET', MIG, 'cursor', cursor)
return finish({'more', counts[1], counts[2]})
