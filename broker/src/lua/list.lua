-- list.lua: one page of a queue's tasks in one state, or of batches (LIST, protocol 8.28).
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
--   what    'tasks' or 'batches'
--   queue   tasks: the queue
--   state   tasks: a state of SOURCES below; batches: '' (any) or a batch state
--   type    tasks: only this type ('' = any)
--   owner   '' = any; else only tasks (batches) this CURVE key owns
--   limit   at most this many entries
--   scan    at most this many index entries read (>= limit): the bound of the work per call
--           whatever the filters skip
--   cursor  '' = from the start, else a next cursor of an earlier call with the same
--           what/queue/state/type
-- Returns (msgpack): {tasks = {{hash = flat field/value list (the summary fields of the
--   record: record.lua), hist = {}, id}, ...}, batches = {{b, flat HGETALL of batch:<b>}},
--   next = the next cursor ('' = the end)}.
-- Errors: TM_INVALID_ARGUMENT for a state without a source or a cursor of another source.
--
-- Order and cursors: every source is read in its index's order, (score, id) for a sorted
-- set, position for a list; the cursor names the last entry read (examined, kept or not):
-- 'z:<score>:<id>', 'r:<score>:<id>' (a queue's ready sets merged), 'l:<pos>:<id>'. A page
-- starts right after that entry, found by its rank while it is still there, so pages neither
-- repeat nor skip while the set does not change. Work per call: at most `scan` index entries
-- (each one HMGET); a page may hold fewer than `limit` entries with a non-empty cursor.
-- Stale index entries (a per-state index entry whose task moved on or expired, a batch whose
-- hash expired) are dropped on the way.

local limit = tonumber(A.limit) or 50
local scan = math.max(tonumber(A.scan) or 2000, limit)
local owner = A.owner or ''
local cursor = A.cursor or ''

local function bad(msg) return redis.error_reply('TM_INVALID_ARGUMENT ' .. msg) end

-- The fields of a task summary (TaskFromFields reads them; no payload, result or history).
local SUMMARY = {'spec', 'state', 'att', 'worker', 'started', 'ready_at', 'finished',
                 'err_code', 'err_msg', 'err_retry', 'reason', 'prio'}

-- State -> where its tasks are indexed. kind zset: a sorted set (global = every queue's
-- tasks, filtered by queue); ready: the queue's ready sets, one per type; list: the queue's
-- finished list (done:<queue>, kept while a retention or a count cap bounds it). Adding a
-- state is one line here (and its name in protocol/names.cc).
local SOURCES = {
  queued = {kind = 'ready'},
  delayed = {kind = 'zset', global = true, key = function() return DELAYED end},
  blocked = {kind = 'zset', key = function(q) return state_index_key('blocked', q) end,
             index = true},
  running = {kind = 'zset', global = true, key = function() return LEASES end},
  awaiting = {kind = 'zset', key = function(q) return state_index_key('awaiting', q) end,
              index = true},
  succeeded = {kind = 'list', key = done_key},
  failed = {kind = 'zset', key = dead_key},
  cancelled = {kind = 'list', key = done_key},
  -- Issue 22's terminal state expired (a task not started in time): finished tasks join
  -- done:<queue> (expire_finished in lib/prelude.lua).
  expired = {kind = 'list', key = done_key},
}

-- Parses 'x:<score or pos>:<id>' of kind prefix `want`; nil, nil for ''.
local function parse_cursor(want)
  if cursor == '' then return nil, nil, nil end
  local kind, num, id = string.match(cursor, '^(%a):([^:]+):(.+)$')
  if kind ~= want or not tonumber(num) then return nil, nil, 'bad' end
  return num, id, nil
end

-- Up to n entries of zset `key` after (cs, cid) in (score, id) order, as {id, score, ...}.
-- While cid is still there with score cs its rank is exact; otherwise the entries after the
-- position it had are found by score, skipping the ties at cs up to cid (reading at most
-- `scan` more).
local function zset_after(key, cs, cid, n)
  if not cs then return redis.call('ZRANGE', key, 0, n - 1, 'WITHSCORES') end
  local s = redis.call('ZSCORE', key, cid)
  if s and tonumber(s) == tonumber(cs) then
    local rank = redis.call('ZRANK', key, cid)
    return redis.call('ZRANGE', key, rank + 1, rank + n, 'WITHSCORES')
  end
  local out, off, csn = {}, 0, tonumber(cs)
  while #out < 2 * n and off <= scan do
    local r = redis.call('ZRANGEBYSCORE', key, cs, '+inf', 'WITHSCORES', 'LIMIT', off, n)
    if #r == 0 then break end
    for j = 1, #r, 2 do
      if #out < 2 * n and (tonumber(r[j + 1]) > csn or r[j] > cid) then
        out[#out + 1] = r[j]
        out[#out + 1] = r[j + 1]
      end
    end
    off = off + #r / 2
  end
  return out
end

local tasks = {}
-- Reads task `id` found in an index; keeps it if it matches. Returns false when the entry is
-- stale (the task is gone or in another state).
local function consider(id, queue, state)
  local v = redis.call('HMGET', task_key(id), unpack(SUMMARY))
  if not v[1] or v[2] ~= state then return false end
  local t = decode_spec({}, v[1])
  if t.queue ~= queue then return true end
  if A.type ~= '' and t.type ~= A.type then return true end
  if owner ~= '' and t.owner ~= owner then return true end
  local h = {}
  for i, f in ipairs(SUMMARY) do
    if v[i] then
      h[#h + 1] = f
      h[#h + 1] = v[i]
    end
  end
  tasks[#tasks + 1] = {hash = h, hist = {}, id = id}
  return true
end

-- A sorted-set source: reads index entries until the page is full or `scan` are read.
local function list_zset(key, queue, state, index, prefix)
  local cs, cid, err = parse_cursor(prefix)
  if err then return nil, 'bad' end
  local read, last_s, last_id = 0, nil, nil
  while #tasks < limit and read < scan do
    local n = math.min(scan - read, math.max(limit - #tasks, 100))
    local r = zset_after(key, cs, cid, n)
    if #r == 0 then return '' end
    for j = 1, #r, 2 do
      local id = r[j]
      read = read + 1
      last_s, last_id = r[j + 1], id
      if not consider(id, queue, state) and index then redis.call('ZREM', key, id) end
      if #tasks >= limit or read >= scan then break end
    end
    cs, cid = last_s, last_id
  end
  if not last_id then return '' end
  -- Is anything left after the last entry read?
  if #zset_after(key, last_s, last_id, 1) == 0 then return '' end
  return prefix .. ':' .. last_s .. ':' .. last_id
end

-- The ready sets of a queue merged in (score, id) order: each type's set is read k at a time,
-- and only entries up to the smallest last entry of a set read in full are taken, so the merge
-- is exact while each call reads at most `scan` entries whatever the number of types.
local function list_ready(queue)
  local cs, cid, err = parse_cursor('r')
  if err then return nil, 'bad' end
  local types = A.type ~= '' and {A.type} or redis.call('SMEMBERS', types_key(queue))
  table.sort(types)
  if #types == 0 then return '' end
  local k = math.max(1, math.min(limit + 1, math.floor(scan / #types)))
  local cands, frontier = {}, nil
  for _, ty in ipairs(types) do
    local r = zset_after(ready_key(queue, ty), cs, cid, k)
    for j = 1, #r, 2 do cands[#cands + 1] = {r[j], tonumber(r[j + 1]), r[j + 1]} end
    if #r / 2 >= k then
      local last = {r[#r - 1], tonumber(r[#r])}
      if not frontier or last[2] < frontier[2] or (last[2] == frontier[2] and last[1] < frontier[1]) then
        frontier = last
      end
    end
  end
  table.sort(cands, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  local last = nil
  for _, c in ipairs(cands) do
    if #tasks >= limit then break end
    if frontier and (c[2] > frontier[2] or (c[2] == frontier[2] and c[1] > frontier[1])) then
      break
    end
    consider(c[1], queue, 'queued')
    last = c
  end
  if not last then
    if #cands == 0 then return '' end
    return cursor
  end
  -- More after `last`? Either a candidate not taken or a set read in full.
  if last == cands[#cands] and not frontier then return '' end
  return 'r:' .. last[3] .. ':' .. last[1]
end

-- A finished list: positions from the head (oldest first). The cursor's entry is looked for
-- where it was; trimming only pops the head, so it is at or before that position, or gone with
-- everything before it.
local function list_done(key, queue, state)
  local pos, cid, err = parse_cursor('l')
  if err then return nil, 'bad' end
  local start = 0
  if pos then
    pos = tonumber(pos)
    if redis.call('LINDEX', key, pos) == cid then
      start = pos + 1
    else
      local p = redis.call('LPOS', key, cid, 'MAXLEN', pos + 1)
      start = p and p + 1 or 0
    end
  end
  local read, at = 0, start
  while read < scan and #tasks < limit do
    local n = math.min(scan - read, math.max(limit - #tasks, 100))
    local ids = redis.call('LRANGE', key, at, at + n - 1)
    if #ids == 0 then return '' end
    for _, id in ipairs(ids) do
      read = read + 1
      consider(id, queue, state)
      at = at + 1
      if #tasks >= limit or read >= scan then break end
    end
  end
  if redis.call('LINDEX', key, at) == false then return '' end
  return 'l:' .. fmt(at - 1) .. ':' .. redis.call('LINDEX', key, at - 1)
end

-- Batches by creation (the batches index, every batch this store still has).
local function list_batches()
  local cs, cid, err = parse_cursor('z')
  if err then return nil, nil, 'bad' end
  local out, read, last_s, last_id = {}, 0, nil, nil
  while #out < limit and read < scan do
    local r = zset_after(BATCHES, cs, cid, math.min(scan - read, math.max(limit - #out, 100)))
    if #r == 0 then return out, '' end
    for j = 1, #r, 2 do
      local b = r[j]
      read = read + 1
      last_s, last_id = r[j + 1], b
      local h = redis.call('HGETALL', batch_key(b))
      if #h == 0 then
        redis.call('ZREM', BATCHES, b)
      else
        local f = {}
        for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
        if (A.state == '' or f.state == A.state) and (owner == '' or (f.owner or '') == owner) then
          out[#out + 1] = {b, h}
        end
      end
      if #out >= limit or read >= scan then break end
    end
    cs, cid = last_s, last_id
  end
  if not last_id or #zset_after(BATCHES, last_s, last_id, 1) == 0 then return out, '' end
  return out, 'z:' .. last_s .. ':' .. last_id
end

if A.what == 'batches' then
  local out, nxt, err = list_batches()
  if err then return bad('cursor: not one this broker gave for a list of batches') end
  return reply({tasks = {}, batches = out, next = nxt})
end

local src = SOURCES[A.state or '']
if not src then return bad('state: ' .. tostring(A.state) .. ' cannot be listed') end
local q = A.queue or ''
local nxt
if src.kind == 'ready' then
  nxt = list_ready(q)
elseif src.kind == 'zset' then
  nxt = list_zset(src.key(q), q, A.state, src.index, 'z')
else
  nxt = list_done(src.key(q), q, A.state)
end
if not nxt then return bad('cursor: not one this broker gave for ' .. A.state .. ' tasks') end
return reply({tasks = tasks, batches = {}, next = nxt})
