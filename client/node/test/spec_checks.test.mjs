// Client-side spec checks that match the broker's (protocol.md 7.1): label keys, labels
// counted with the payload, not_before_ms bounded. No broker needed.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {InvalidSpec} from '../src/errors.js';
import {MAX_NOT_BEFORE_MS, normalizeBatchSpec, normalizeTaskSpec} from '../src/spec.js';

test('an empty label key is refused with the broker\'s words', () => {
  assert.throws(() => normalizeTaskSpec({type: 'echo', labels: {'': 'x'}}, 'tasks[0]'),
      (e) => e instanceof InvalidSpec &&
        e.message === 'tasks[0].labels: a key of 0 bytes is out of range (allowed: 1..256 bytes)');
  assert.throws(() => normalizeBatchSpec({tasks: [{type: 'echo', name: 'a'}], labels: {'': 'x'}}),
      InvalidSpec);
});

test('labels count with the payload', () => {
  assert.throws(() => normalizeTaskSpec(
      {type: 'echo', payload: Buffer.alloc(16 << 20), labels: {k: 'v'}}, 'tasks[0]'),
  (e) => e instanceof InvalidSpec && e.message.includes('payload and labels count together'));
});

test('not_before_ms is bounded', () => {
  normalizeTaskSpec({type: 'echo', notBeforeMs: MAX_NOT_BEFORE_MS}, 'tasks[0]');
  assert.throws(() => normalizeTaskSpec({type: 'echo', notBeforeMs: 2 ** 63}, 'tasks[0]'),
      (e) => e instanceof InvalidSpec && e.message.startsWith(
          'tasks[0].not_before_ms: 9223372036854776000 is out of range (allowed: ' +
          '0..253402300799999, 9999-12-31; 0: now)'));
});

test('issue 22 task options are checked as the broker does', () => {
  normalizeTaskSpec({type: 'echo', delayMs: 10000, expiresInMs: 30000, idempotencyKey: 'k',
    idempotencyTtlMs: 3600000}, 'tasks[0]');
  const cases = [
    [{delayMs: 1, notBeforeMs: 5}, 'tasks[0].delay_ms and not_before_ms: set one or the ' +
      'other (a relative delay or an absolute time), not both'],
    [{delayMs: 365 * 86400000 + 1}, 'tasks[0].delay_ms: 31536000001 is out of range ' +
      '(allowed: 0..31536000000, 365 days; 0: none)'],
    [{expiresInMs: -1}, 'tasks[0].expires_in_ms: -1 is out of range (allowed: ' +
      '0..31536000000, 365 days; 0: never)'],
    [{idempotencyKey: 'k', idempotencyTtlMs: 30 * 86400000 + 1}, 'tasks[0].idempotency_ttl_ms: ' +
      '2592000001 is out of range (allowed: 0..2592000000, 30 days; 0: the broker\'s ' +
      '--idempotency-ttl)'],
    [{idempotencyTtlMs: 1000}, 'tasks[0].idempotency_ttl_ms: needs an idempotency_key (it is ' +
      'that key\'s TTL)'],
  ];
  for (const [extra, message] of cases) {
    assert.throws(() => normalizeTaskSpec({type: 'echo', ...extra}, 'tasks[0]'),
        (e) => e instanceof InvalidSpec && e.message === message);
  }
});
