// parseDuration: the same rules as the C++ ParseDurationMs.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {parseDuration} from '../src/index.js';

test('parses each unit', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration(1500), 1500);
});

test('refuses naming what is allowed', () => {
  for (const bad of ['', '30', '1.5s', '5 m', '5M', '1d', '0s', '-5s', '8761h', '1h30m', true]) {
    assert.throws(() => parseDuration(bad, 'every'), /every: .*ms, s, m or h/, String(bad));
  }
});
