-- progress.lua: stores the latest progress of running attempts (PROGRESS, already throttled
-- per task by the broker, so this runs a few times a second per task at most).
--
-- KEYS[1], ARGV[1]: see prelude.lua. ARGV[2]: a msgpack map:
-- {items = {{id, worker, tok (decimal string), frac (decimal string, 0..1), msg}, ...}}
-- Fenced like finish.lua: an item is stored only if its task is running under `worker` and
-- tok equals that lease's live token (wl:<worker>); otherwise it is refused (a stale attempt's
-- progress never lands on the record, and a task that ended or expired is never recreated).
-- Writes prog (fraction), prog_msg (message) and prog_att (the attempt it belongs to: a later
-- attempt shows no progress until it reports its own) on task:<id>.
-- Returns (msgpack): {stored = items written, refused = items refused}

local stored, refused = 0, 0
for _, it in ipairs(A.items or {}) do
  local id, worker = it.id or '', it.worker or ''
  local t = load(id)
  local live = t and t.state == 'running' and worker ~= '' and t.worker == worker and
               redis.call('HGET', wleases_key(worker), id) == it.tok
  if live then
    redis.call('HSET', task_key(id), 'prog', it.frac or '0', 'prog_msg', it.msg or '',
               'prog_att', t.att)
    stored = stored + 1
  else
    refused = refused + 1
  end
end
return reply({stored = stored, refused = refused})
