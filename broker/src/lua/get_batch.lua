-- get_batch.lua: reads a batch's aggregate state and its name -> task id map.
--
-- KEYS: none (see prelude.lua for ARGV[1..7]).
-- ARGV[8] batch id
-- Returns: {} when unknown, else {flat HGETALL of batch:<id>, flat HGETALL of batch:<id>:names}
--   batch:<id> fields: id, state (running|succeeded|partial|failed), total, created, finished,
--   n:<task state> counts, c:<cost> sums, b:<cost> budgets, budget_exceeded ("1").
-- Read only.

local b = arg()
local h = redis.call('HGETALL', batch_key(b))
if #h == 0 then return finish({}) end
return finish({h, redis.call('HGETALL', batch_key(b) .. ':names')})
