// STATS paging in the Node client: every page gathered, a cursor that does not move refused
// (no network: `call` is stubbed with replies shaped as the codec decodes them: camelCase).
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
    {queues: [{queue: 'a'}], workers: [], broker: {workers: 2}, nextCursor: 'q:a'},
    {queues: [{queue: 'b'}], workers: [{id: 'w1'}], broker: null, nextCursor: ''},
  ]);
  const out = await Client.prototype.stats.call(fake, {queues: []});
  assert.deepEqual(out.queues.map((q) => q.queue), ['a', 'b']);
  assert.deepEqual(out.workers.map((w) => w.id), ['w1']);
  assert.equal(out.broker.workers, 2);
  assert.deepEqual(fake.sent.map((s) => s.cursor), ['', 'q:a']);
});

test('the stub replies have the shape the codec gives a REPLY', async () => {
  const {readFileSync} = await import('node:fs');
  const {decodeFrames} = await import('../src/codec.js');
  const v = JSON.parse(readFileSync(new URL('../../../shared/protocol/vectors/reply_stats_page.json',
                                            import.meta.url)));
  const {message} = decodeFrames(v.frames_hex.map((h) => Buffer.from(h, 'hex')));
  assert.equal(message.nextCursor, v.body.next_cursor);
});

test('stats() refuses a cursor that does not move on', async () => {
  const fake = stub([
    {queues: [], workers: [], nextCursor: 'q:a'},
    {queues: [], workers: [], nextCursor: 'q:a'},
  ]);
  await assert.rejects(Client.prototype.stats.call(fake, {}), {code: 'internal'});
});
