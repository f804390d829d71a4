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
