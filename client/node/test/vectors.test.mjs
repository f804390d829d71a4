// Every shared/protocol/vectors/*.json, byte for byte: build the message from the JSON
// body, encode it and compare with frames_hex; decode frames_hex, compare with the body,
// and re-encode to the same bytes (docs/protocol-vectors.md, section 10).

import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {Forbidden, StoreFull, errorFromWire} from '../src/errors.js';
import {COMMANDS, decodeFrames, encodeFrames} from '../src/protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const vectorDir = join(here, '..', '..', '..', 'shared', 'protocol', 'vectors');
const files = readdirSync(vectorDir).filter((f) => f.endsWith('.json')).sort();

// Free-form maps: their keys are data and stay as they are; every other key is a field
// name and becomes camelCase. `tasks` is free-form only as an object (BatchStatus).
const FREE_FORM = new Set(['labels', 'cost', 'budget', 'counts', 'parents']);
const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function toMessage(value, freeForm = false) {
  if (Array.isArray(value)) return value.map((v) => toMessage(v));
  if (value === null || typeof value !== 'object') return value;
  if (Object.keys(value).length === 1 && '$bin' in value) {
    return new Uint8Array(Buffer.from(value.$bin, 'hex'));
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (freeForm) {
      out[k] = toMessage(v);
    } else {
      const isFree = FREE_FORM.has(k) || (k === 'tasks' && !Array.isArray(v));
      out[camel(k)] = toMessage(v, isFree);
    }
  }
  return out;
}

// `expected` must be contained in `actual`; bytes compare by content.
function assertContains(actual, expected, path = 'body') {
  if (expected instanceof Uint8Array) {
    assert.ok(actual instanceof Uint8Array, `${path}: expected bytes`);
    assert.equal(Buffer.from(actual).toString('hex'), Buffer.from(expected).toString('hex'), path);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array`);
    assert.equal(actual.length, expected.length, `${path}: length`);
    expected.forEach((e, i) => assertContains(actual[i], e, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    for (const [k, v] of Object.entries(expected)) assertContains(actual[k], v, `${path}.${k}`);
  } else {
    assert.equal(actual, expected, path);
  }
}

// JSON.parse rounds integers past 2^53; fencing tokens are random u64s (progress_token64,
// done_token64), so big integer literals are read as BigInt, as the codec decodes them.
function parseVector(text) {
  const tagged = text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$big:$2"');
  return JSON.parse(tagged, (k, v) => {
    if (typeof v !== 'string' || !v.startsWith('$big:')) return v;
    const n = BigInt(v.slice(5));
    return Number.isSafeInteger(Number(n)) ? Number(n) : n;
  });
}

test('the vectors cover every command', () => {
  const seen = new Set(files.map((f) => JSON.parse(readFileSync(join(vectorDir, f), 'utf8')).command));
  assert.deepEqual([...seen].sort(), Object.keys(COMMANDS).sort());
});

for (const file of files) {
  const vector = parseVector(readFileSync(join(vectorDir, file), 'utf8'));
  test(`vector ${vector.name}`, () => {
    assert.equal(`${vector.name}.json`, file);
    const message = toMessage(vector.body);
    const frames = encodeFrames(vector.command, message);
    assert.deepEqual(frames.map((f) => Buffer.from(f).toString('hex')), vector.frames_hex);
    assert.equal(frames[1][0], vector.command_byte);

    const decoded = decodeFrames(vector.frames_hex.map((h) => Buffer.from(h, 'hex')));
    assert.equal(decoded.command, vector.command);
    assertContains(decoded.message, message);
    const again = encodeFrames(decoded.command, decoded.message);
    assert.deepEqual(again.map((f) => Buffer.from(f).toString('hex')), vector.frames_hex);
  });
}

test('a forbidden reply (reply_forbidden) becomes a Forbidden error', () => {
  const vector = parseVector(readFileSync(join(vectorDir, 'reply_forbidden.json'), 'utf8'));
  const err = errorFromWire(vector.body.error);
  assert.ok(err instanceof Forbidden);
  assert.equal(err.code, 'forbidden');
  assert.match(err.message, /admin role/);
});

test('store_full is a retryable error', () => {
  const vector = JSON.parse(readFileSync(join(vectorDir, 'reply_store_full.json'), 'utf8'));
  const decoded = decodeFrames(vector.frames_hex.map((h) => Buffer.from(h, 'hex')));
  const err = errorFromWire(decoded.message.error);
  assert.ok(err instanceof StoreFull, String(err));
  assert.equal(err.code, 'store_full');
  assert.equal(err.retryable, true);
  assert.equal(errorFromWire({code: 'store_unavailable', message: ''}).retryable, true);
  assert.equal(errorFromWire({code: 'invalid_argument', message: ''}).retryable, false);
});
