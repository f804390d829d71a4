// Codec rules beyond the vectors: decoding leniencies and refusals (docs/protocol.md
// sections 2-4), canonical details the vectors do not reach (free-form key order, big
// integers, integral doubles).

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {decodeBody, decodeFrames, encodeBody, encodeFrames} from '../src/protocol.js';

const hex = (b) => Buffer.from(b).toString('hex');
const body = (h) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const codeOf = (fn) => {
  try {
    fn();
  } catch (e) {
    return e.code;
  }
  return 'no error';
};

test('free-form keys are sorted bytewise, even integer-like ones', () => {
  const b = encodeBody('READY', {workerId: 'w', labels: {'9': 'a', '10': 'b', 'B': 'c', 'a': 'd'}});
  const decodedOrder = [];
  // Walk the map keys in wire order: labels is the last field.
  const labels = b.subarray(b.indexOf(Buffer.from('labels')) + 6);
  for (let i = 1; i < labels.length;) {
    const n = labels[i] & 0x1f;
    decodedOrder.push(labels.subarray(i + 1, i + 1 + n).toString());
    i += 1 + n + 2;
  }
  assert.deepEqual(decodedOrder, ['10', '9', 'B', 'a']);
});

test('integral doubles are integers, others float64, -0 is 0', () => {
  assert.equal(hex(encodeBody('HEARTBEAT', {free: 0})), '80');
  assert.equal(hex(encodeBody('PROGRESS', {taskId: 't', token: 1, fraction: 1})),
      '83a77461736b5f6964a174a5746f6b656e01a86672616374696f6e01');
  assert.equal(hex(encodeBody('PROGRESS', {taskId: 't', token: 1, fraction: -0})),
      '82a77461736b5f6964a174a5746f6b656e01');
  const half = encodeBody('PROGRESS', {taskId: 't', token: 1, fraction: 0.5});
  assert.ok(hex(half).endsWith('cb3fe0000000000000'));
  const big = encodeBody('DONE', {taskId: 't', token: 1, ok: true, cost: {x: 1e18}});
  assert.ok(hex(big).includes('a178cf0de0b6b3a7640000'));
});

test('u64 above 2^53 round-trips as a BigInt', () => {
  const token = 2n ** 63n + 5n;
  const b = encodeBody('DONE', {taskId: 't', token, ok: true});
  assert.ok(hex(b).includes('cf8000000000000005'));
  const m = decodeBody('DONE', b);
  assert.equal(m.token, token);
  assert.equal(decodeBody('DONE', encodeBody('DONE', {taskId: 't', token: 7, ok: false})).token, 7);
});

test('decoding fills defaults, ignores unknown keys, treats nil as absent', () => {
  // {"task_id": "t", "token": 1, "attempt": nil, "type": "x", "zz": ext, "yy": [1, {}]}
  const m = decodeBody('TASK', body(`86 a7 7461736b5f6964 a1 74 a5 746f6b656e 01
      a7 617474656d7074 c0 a4 74797065 a1 78 a2 7a7a d4 05 01 a2 7979 92 01 80`));
  assert.equal(m.attempt, 1);
  assert.equal(m.type, 'x');
  assert.deepEqual(m.parents, {});
  assert.equal(m.payload.length, 0);
});

test('leniencies: str for bin, signed for unsigned, integer for double', () => {
  // payload as str "hi", token as int8 5
  const m = decodeBody('TASK', body(`84 a7 7461736b5f6964 a1 74 a5 746f6b656e d0 05
      a4 74797065 a1 78 a7 7061796c6f6164 a2 6869`));
  assert.equal(m.token, 5);
  assert.equal(m.payload.toString(), 'hi');
  const p = decodeBody('PROGRESS', body('83 a7 7461736b5f6964 a1 74 a5 746f6b656e 01 a8 6672616374696f6e ca 3f000000'));
  assert.equal(p.fraction, 0.5);
});

test('refusals carry the protocol codes', () => {
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body(''))), 'truncated');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('df ffffffff'))), 'over_limit');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('de 0100'))), 'truncated');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('80 00'))), 'bad_frame');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('90'))), 'wrong_type');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('81 a4 66726565 c1'))), 'wrong_type');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('81 01 02'))), 'wrong_type');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('81 a4 66726565 a1 78'))), 'wrong_type');
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body('81 a4 66726565 ff'))), 'invalid_argument');
  assert.equal(codeOf(() => decodeBody('DONE', body('80'))), 'missing_field');
  assert.equal(codeOf(() => decodeBody('PROGRESS',
      body('83 a7 7461736b5f6964 a1 74 a5 746f6b656e 01 a8 6672616374696f6e cb 7ff0000000000000'))),
  'invalid_argument');
  const deep = '81 a1 78 ' + '91 '.repeat(16) + '00';
  assert.equal(codeOf(() => decodeBody('HEARTBEAT', body(deep))), 'over_limit');
  const ok = '81 a1 78 ' + '91 '.repeat(14) + '00';
  assert.deepEqual(decodeBody('HEARTBEAT', body(ok)), {free: 0});
  assert.equal(codeOf(() => decodeFrames([Buffer.from('TM1'), Buffer.of(0x41)])), 'bad_frame');
  assert.equal(codeOf(() => decodeFrames([Buffer.from('TM9'), Buffer.of(0x41), body('80')])),
      'unknown_version');
  assert.equal(codeOf(() => decodeFrames([Buffer.from('TM1'), Buffer.of(0x7f), body('80')])),
      'unknown_command');
});

test('error paths name the field', () => {
  assert.throws(() => decodeBody('SUBMIT', body('82 a6 7265715f6964 01 a5 7461736b73 91 80')),
      {code: 'missing_field', message: "tasks[0]: missing required field 'type'"});
  assert.throws(() => encodeBody('SUBMIT', {reqId: 1, tasks: [{type: 'x', priority: 300}]}),
      {code: 'invalid_argument', message: 'tasks[0].priority: 300 is over the maximum of 255'});
  assert.throws(() => decodeBody('DLQ', body('82 a6 7265715f6964 01 a2 6f70 a7 6578706c6f6465')),
      {code: 'invalid_argument', message: "op: unknown value 'explode' (allowed: list, retry, purge)"});
});

test('an unknown task state reads as unknown', () => {
  const m = decodeBody('RESULT', body('81 a4 7461736b 82 a2 6964 a1 74 a5 7374617465 a4 7a617070'));
  assert.equal(m.task.state, 'unknown');
});

// Issue 17: GOAWAY (broker -> client) and MOVE (broker -> worker) carry {reason: str},
// optional: the bare message is the empty map 0x80.
for (const [command, byte] of [['GOAWAY', 0x23], ['MOVE', 0x64]]) {
  test(`${command} is ${byte.toString(16)} with an optional reason`, () => {
    const bare = encodeFrames(command, {});
    assert.deepEqual(bare.map(hex), ['544d31', byte.toString(16).padStart(2, '0'), '80']);
    const withReason = encodeFrames(command, {reason: 'sigterm'});
    assert.equal(hex(withReason[2]), '81a6726561736f6ea7736967746572' + '6d');
    assert.deepEqual(decodeFrames(withReason), {command, message: {reason: 'sigterm'}});
    assert.equal(decodeFrames(bare).command, command);
    assert.equal(codeOf(() => decodeFrames([bare[0], bare[1], body('81a6726561736f6e05')])),
        'wrong_type');
  });
}
