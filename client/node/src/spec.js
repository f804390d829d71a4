// Turns what a caller passes as a task or batch into wire-ready specs, and applies the
// semantic checks of docs/protocol.md 7.1 (validate.h) before anything is sent, so a bad
// spec fails here with InvalidSpec exactly as the broker would refuse it.

import {randomBytes} from 'node:crypto';

import {InvalidSpec} from './errors.js';

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
// The protocol's ceiling (the decoder's max_bin); a broker applies its own, smaller cap
// (--max-payload-bytes, 8 MiB by default) and answers invalid_argument past it.
const MAX_PAYLOAD = 16 * 1024 * 1024;

// Payload: bytes as they are, a string as UTF-8, anything else as its JSON text (so an
// exec payload can be written as an object).
export function toBytes(payload) {
  if (payload === undefined || payload === null) return new Uint8Array(0);
  if (payload instanceof Uint8Array) return payload;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

function check(cond, path, what) {
  if (!cond) throw new InvalidSpec(`${path}: ${what}`);
}

const SPEC_KEYS = new Set(['type', 'payload', 'queue', 'name', 'id', 'priority', 'maxAttempts',
  'backoff', 'timeoutMs', 'idempotencyKey', 'notBeforeMs', 'dependsOn', 'labels', 'batchId',
  'delayMs', 'expiresInMs', 'idempotencyTtlMs']);
const BACKOFF_KEYS = new Set(['baseMs', 'maxMs', 'multiplier', 'jitter']);

function checkKeys(obj, known, path) {
  for (const key of Object.keys(obj)) {
    // A snake_case or misspelt key would be dropped silently: refuse it instead.
    check(known.has(key), `${path}.${key}`, `unknown field (known: ${[...known].join(', ')})`);
  }
}

// The latest not_before_ms a broker accepts: 9999-12-31T23:59:59.999Z (protocol.md 7.1).
export const MAX_NOT_BEFORE_MS = 253402300799999;
// delay_ms and expires_in_ms: at most 365 days; idempotency_ttl_ms: at most 30 days.
export const MAX_DELAY_MS = 365 * 24 * 3600 * 1000;
export const MAX_EXPIRES_IN_MS = 365 * 24 * 3600 * 1000;
export const MAX_IDEMPOTENCY_TTL_MS = 30 * 24 * 3600 * 1000;

function checkMs(value, max, path, note) {
  const n = typeof value === 'bigint' ? Number(value) : value;
  check(Number.isInteger(n) && n >= 0 && n <= max, path,
      `${value} is out of range (allowed: 0..${max}, ${note})`);
  return n;
}
const MAX_LABEL_KEY = 256;
const MAX_LABEL_BYTES = 1 << 20;

// At most 64 labels, keys of 1..256 bytes, at most 1 MiB of keys and values; returns the bytes.
export function checkLabels(labels, path) {
  const keys = Object.keys(labels);
  check(keys.length <= 64, path, `${keys.length} labels is over the limit of 64`);
  let total = 0;
  for (const k of keys) {
    const n = Buffer.byteLength(k);
    check(n >= 1 && n <= MAX_LABEL_KEY, path,
        `a key of ${n} bytes is out of range (allowed: 1..${MAX_LABEL_KEY} bytes)`);
    total += n + Buffer.byteLength(String(labels[k]));
  }
  check(total <= MAX_LABEL_BYTES, path,
      `${total} bytes (keys and values) is over the limit of ${MAX_LABEL_BYTES}`);
  return total;
}

export function normalizeTaskSpec(spec, path = 'task') {
  if (spec === null || typeof spec !== 'object') throw new InvalidSpec(`${path}: expected an object`);
  checkKeys(spec, SPEC_KEYS, path);
  if (spec.backoff) checkKeys(spec.backoff, BACKOFF_KEYS, `${path}.backoff`);
  const out = {...spec, payload: toBytes(spec.payload)};
  check(typeof out.type === 'string' && NAME.test(out.type), `${path}.type`,
      `'${out.type}' must match [A-Za-z0-9_.-]{1,128}`);
  if (out.queue !== undefined) {
    check(typeof out.queue === 'string' && NAME.test(out.queue), `${path}.queue`,
        `'${out.queue}' must match [A-Za-z0-9_.-]{1,128}`);
  }
  for (const key of ['id', 'name']) {
    if (out[key]) {
      check(NAME.test(out[key]), `${path}.${key}`, `'${out[key]}' must match [A-Za-z0-9_.-]{1,128}`);
    }
  }
  check(out.payload.byteLength <= MAX_PAYLOAD, `${path}.payload`,
      `${out.payload.byteLength} bytes is over the protocol's limit of ${MAX_PAYLOAD}`);
  if (out.priority !== undefined) {
    check(Number.isInteger(out.priority) && out.priority >= 0 && out.priority <= 255,
        `${path}.priority`, `${out.priority} is out of range (allowed: integers 0..255)`);
  }
  if (out.timeoutMs !== undefined) {
    check(Number.isInteger(out.timeoutMs) && out.timeoutMs >= 0 && out.timeoutMs <= 0xffffffff,
        `${path}.timeout_ms`, `${out.timeoutMs} is out of range (allowed: integers 0..4294967295)`);
  }
  if (out.maxAttempts !== undefined) {
    check(Number.isInteger(out.maxAttempts) && out.maxAttempts >= 1 && out.maxAttempts <= 1000,
        `${path}.max_attempts`, `${out.maxAttempts} is out of range (1..1000)`);
  }
  if (out.backoff) {
    const b = {baseMs: 1000, maxMs: 60000, multiplier: 2, ...out.backoff};
    check(b.multiplier >= 1 && b.multiplier <= 100, `${path}.backoff.multiplier`,
        `${b.multiplier} is out of range (1..100)`);
    check(b.baseMs <= b.maxMs, `${path}.backoff.base_ms`, 'must not exceed max_ms');
  }
  if (out.idempotencyKey !== undefined) {
    check(Buffer.byteLength(String(out.idempotencyKey)) <= 256, `${path}.idempotency_key`,
        'is over 256 bytes');
  }
  const labelBytes = checkLabels(out.labels ?? {}, `${path}.labels`);
  check(out.payload.byteLength + labelBytes <= MAX_PAYLOAD, `${path}.labels`,
      `${labelBytes} bytes with a payload of ${out.payload.byteLength} bytes is over the limit ` +
      `of ${MAX_PAYLOAD} (payload and labels count together)`);
  check((out.dependsOn ?? []).length <= 1000, `${path}.depends_on`, 'more than 1000 parents');
  if (out.notBeforeMs !== undefined) {
    const nb = typeof out.notBeforeMs === 'bigint' ? Number(out.notBeforeMs) : out.notBeforeMs;
    check(Number.isInteger(nb) && nb >= 0 && nb <= MAX_NOT_BEFORE_MS, `${path}.not_before_ms`,
    `${out.notBeforeMs} is out of range (allowed: 0..${MAX_NOT_BEFORE_MS}, 9999-12-31; 0: now)`);
  }
  const delay = out.delayMs === undefined ? 0 :
    checkMs(out.delayMs, MAX_DELAY_MS, `${path}.delay_ms`, '365 days; 0: none');
  check(!(delay && Number(out.notBeforeMs ?? 0)), `${path}.delay_ms and not_before_ms`,
      'set one or the other (a relative delay or an absolute ' +
      'time), not both');
  if (out.expiresInMs !== undefined) {
    checkMs(out.expiresInMs, MAX_EXPIRES_IN_MS, `${path}.expires_in_ms`, '365 days; 0: never');
  }
  if (out.idempotencyTtlMs !== undefined) {
    const ttl = checkMs(out.idempotencyTtlMs, MAX_IDEMPOTENCY_TTL_MS, `${path}.idempotency_ttl_ms`,
        "30 days; 0: the broker's --idempotency-ttl");
    check(!ttl || !!out.idempotencyKey, `${path}.idempotency_ttl_ms`,
        "needs an idempotency_key (it is that key's TTL)");
  }
  return out;
}

// A batch's on_failure policies (docs/protocol.md 7.7).
export const ON_FAILURE = ['cancel_dependents', 'continue', 'fail_fast'];

export function normalizeBatchSpec(batch) {
  if (batch) {
    const keys = ['id', 'tasks', 'budget', 'labels', 'onFailure', 'finally', 'appendTo'];
    checkKeys(batch, new Set(keys), 'batch');
  }
  if (!batch || !Array.isArray(batch.tasks) || batch.tasks.length === 0) {
    throw new InvalidSpec('tasks: a batch needs at least one task');
  }
  checkLabels(batch.labels ?? {}, 'batch.labels');
  const tasks = batch.tasks.map((t, i) => normalizeTaskSpec(t, `tasks[${i}]`));
  const names = new Set();
  tasks.forEach((t, i) => {
    check(typeof t.name === 'string' && t.name.length > 0, `tasks[${i}].name`,
        'every batch task needs a name');
    check(!names.has(t.name), `tasks[${i}].name`, `'${t.name}' is used twice`);
    names.add(t.name);
  });
  const appendTo = batch.appendTo ?? '';
  // Appending: a parent may be a task already in the batch (the broker knows them).
  tasks.forEach((t, i) => (t.dependsOn ?? []).forEach((d, j) => {
    check(names.has(d) || appendTo !== '', `tasks[${i}].depends_on[${j}]`, `unknown task '${d}'`);
  }));
  if (batch.id) check(NAME.test(batch.id), 'id', `'${batch.id}' must match [A-Za-z0-9_.-]{1,128}`);
  if (appendTo !== '') {
    check(NAME.test(appendTo), 'batch.append_to', `'${appendTo}' must match [A-Za-z0-9_.-]{1,128}`);
    // The batch's own id, budget, policy and finally task apply (the broker's words).
    const unset = {id: !batch.id, budget: Object.keys(batch.budget ?? {}).length === 0,
      on_failure: (batch.onFailure ?? 'cancel_dependents') === 'cancel_dependents',
      finally: batch.finally == null};
    for (const [key, ok] of Object.entries(unset)) {
      check(ok, `batch.${key}`, 'must be unset when append_to is set (the batch\'s own applies)');
    }
  }
  const onFailure = batch.onFailure ?? 'cancel_dependents';
  check(ON_FAILURE.includes(onFailure), 'batch.on_failure',
      `unknown value '${onFailure}' (allowed: cancel_dependents, continue, fail_fast)`);
  let fin = null;
  if (batch.finally != null) {
    fin = normalizeTaskSpec(batch.finally, 'finally');
    const why = {
      dependsOn: 'must be empty (the finally task runs after every other task)',
      payload: 'must be empty (the finally task\'s input is the batch summary)',
      notBeforeMs: 'must be 0 (it runs when the batch ends)',
      idempotencyKey: 'must be empty', batchId: 'must be empty'};
    for (const [key, what] of Object.entries(why)) {
      const v = fin[key];
      const set = v != null && (v.length ?? Number(v)) > 0;
      check(!set, `batch.finally.${key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())}`, what);
    }
  }
  return {id: batch.id ?? '', tasks, budget: batch.budget ?? {}, labels: batch.labels ?? {},
          onFailure, finally: fin, appendTo};
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

// A SUBMIT's or BATCH's request_id: 32 hex digits of 128 random bits, one per logical
// request and the same on every resend of it (the broker stores its tasks once).
export function newRequestId() {
  return randomBytes(16).toString('hex');
}

// A ULID-like id (26 chars: 48-bit time, 80 random bits), as the broker assigns them.
export function newId(now = Date.now()) {
  let out = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  for (const b of randomBytes(16)) out += CROCKFORD[b % 32];
  return out.slice(0, 26);
}
