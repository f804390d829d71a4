-- record.lua: the task record's schema on the Lua side (layout 4), prepended to every script
-- before prelude.lua (broker/cmake/embed_lua.cmake). Its C++ twin is
-- broker/src/store/task_record.h: a field added to the record is added in these two files
-- (docs/architecture.md, "How to add a task field").
--
-- task:<id> is a hash of few fields:
--   spec     immutable, written once at enqueue, encoded by the broker (EncodeSpec): a msgpack
--            stream of, in this order: queue, type, batch ("" = none), name, priority,
--            max_attempts, timeout_ms, {backoff base_ms, max_ms, multiplier, jitter (bool)},
--            not_before_ms, created_ms, owner (CURVE key, "" = none), idempotency key,
--            {parent ids}, {labels}. Scripts decode the first SPEC_LUA_FIELDS objects only
--            (unpack_limit), never the labels, and hand the bytes to the broker untouched.
--   payload  immutable, written once: the handler's input as is (never decoded, never loaded
--            by a transition: claim returns it untouched).
--   res      the recorded attempt's result, written once per DONE, encoded by the broker
--            (EncodeResult): a msgpack stream of duration_ms, exit code (nil = none), output,
--            stdout, stderr.
--   mutable  (absent = the default, "" or 0; only the fields a transition changes are
--            written): state, att (attempts started), worker (the live lease's fencing token is in
--            wl:<worker>, not here), started, ready_at, finished, err_code, err_msg, err_retry, c:<cost name>
--            (summed costs), pending (parents not yet succeeded), kids (deps:<id> may have
--            members), hist (hist:<id> exists), cancel (cancel requested: the reason), reason
--            (why it was cancelled), prog, prog_msg, prog_att (the latest stored progress of
--            an attempt, and which attempt: progress.lua; no layout step, old records lack them),
--            ctok (state awaiting: the SHA-256 hex of the attempt's completion token; deleted
--            when the wait ends), pstate and psince (a polled attempt's state value for its
--            next check, and when its first check parked it, epoch ms; deleted when the attempt
--            ends).
--            lk (the running attempt of a limited queue: '1' or '0' (counted against its
--            concurrency cap) then its limit key: lib/limits.lua).
--            prio (the priority set by UPDATE while the task waited; absent = the spec's:
--            update.lua; load() reads it over the spec's, so a delayed or blocked task
--            becomes ready at it).
--            exp (issue 22: the start deadline, epoch ms, from expires_in_ms; written at
--            enqueue, the task is in the expiring zset until its first lease or its end;
--            it only counts while att is 0; dead_retry deletes it).
--   planned  (the next issues; each is one mutable field, absent = default): error history
--            with tracebacks as msgpack entries of hist:<id>.

local SPEC_LUA_FIELDS = 13

-- Fills t.queue, t.type, t.batch, t.name, t.prio, t.max_att, t.timeout, t.bo ({base, max,
-- mult, jitter}), t.nbf, t.created, t.owner, t.idem, t.parents ({ids}) from a spec.
local function decode_spec(t, spec)
  local _, queue, ty, batch, name, prio, max_att, timeout, bo, nbf, created, owner, idem,
        parents = cmsgpack.unpack_limit(spec, SPEC_LUA_FIELDS)
  t.queue, t.type, t.batch, t.name = queue or '', ty or '', batch or '', name or ''
  t.prio, t.max_att, t.timeout = prio or 0, max_att or 1, timeout or 0
  t.bo, t.nbf, t.created = bo or {}, nbf or 0, created or 0
  t.owner, t.idem, t.parents = owner or '', idem or '', parents or {}
  return t
end

-- The mutable fields a transition reads, and the spec, in one HMGET.
-- lk (a limited queue's lease, lib/limits.lua) comes last: old data simply lacks it.
-- prio (a priority changed by UPDATE while the task waited, update.lua) after it.
local LOAD_FIELDS = {'state', 'att', 'worker', 'started', 'cancel', 'hist', 'kids', 'err_code',
                     'spec', 'psince', 'lk', 'prio'}
