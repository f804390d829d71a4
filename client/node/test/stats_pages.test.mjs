// STATS paging in the Node client: every page gathered, a cursor that does not move refused
// (no network: `call` is stubbed).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {Client} from '../src/index.js';

function stub(pages) {
  const sent = [];
  return {
    sent,
    call: async (command, message) => {
      sent.push({command, ...message});
      return pages.shift();
    },
  };
}

test('stats() gathers every page until next_cursor is empty', async () => {
  const fake = stub([
    {queues: [{queue: 'a'}], workers: [], broker: {workers: 2}, next_cursor: 'q:a'},
    {queues: [{queue: 'b'}], workers: [{id: 'w1'}], broker: null, next_cursor: ''},
  ]);
  const out = await Client.prototype.stats.call(fake, {queues: []});
  assert.deepEqual(out.queues.map((q) => q.queue), ['a', 'b']);
  assert.deepEqual(out.workers.map((w) => w.id), ['w1']);
  assert.equal(out.broker.workers, 2);
  assert.deepEqual(fake.sent.map((s) => s.cursor), ['', 'q:a']);
});

test('stats() refuses a cursor that does not move on', async () => {
  const fake = stub([
    {queues: [], workers: [], next_cursor: 'q:a'},
    {queues: [], workers: [], next_cursor: 'q:a'},
  ]);
  await assert.rejects(Client.prototype.stats.call(fake, {}), {code: 'internal'});
});
