// The Node worker's PROGRESS bounds (no broker): the 50 ms skip on a still clock, the last
// skipped report sent by flushProgress, NaN dropped, clamping and the 512-byte message cut.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {MAX_PROGRESS_MESSAGE_BYTES, Task, progressClock, trimProgressMessage} from
  '../src/worker.js';

function makeTask() {
  const sent = [];
  const worker = {send: (command, message) => sent.push({command, ...message})};
  const task = new Task({taskId: 't1', token: 7n, type: 'x'}, worker, new AbortController());
  return {task, sent};
}

test('a chatty handler sends one report, and its last on flush', () => {
  const real = progressClock.now;
  progressClock.now = () => 1000;
  try {
    const {task, sent} = makeTask();
    for (let i = 1; i <= 10_000; i++) task.progress(i / 20_000, `step ${i}`);
    assert.equal(sent.length, 1);
    task.flushProgress();
    task.flushProgress();  // nothing held any more
    assert.deepEqual(sent.map((p) => [p.fraction, p.message]),
        [[1 / 20_000, 'step 1'], [0.5, 'step 10000']]);
    assert.ok(sent.every((p) => p.command === 'PROGRESS' && p.taskId === 't1'));
    task.progress(7);  // clamped to 1: a final report always goes
    task.progress(NaN);  // dropped
    assert.deepEqual(sent.map((p) => p.fraction), [1 / 20_000, 0.5, 1]);
  } finally {
    progressClock.now = real;
  }
});

test('a progress message is cut to 512 bytes, never inside a character', () => {
  const cut = trimProgressMessage('é'.repeat(400));
  assert.ok(Buffer.byteLength(cut) <= MAX_PROGRESS_MESSAGE_BYTES);
  assert.equal(cut, 'é'.repeat(256));
  assert.equal(trimProgressMessage('short'), 'short');
});
