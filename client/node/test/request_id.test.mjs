// Every SUBMIT and BATCH carries a requestId (protocol-messages.md 8.1): 32 hex digits of
// 128 random bits, fresh per request, so that a resend of it is stored once by the broker.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as zmq from 'zeromq';

import {Client} from '../src/index.js';
import {decodeFrames, encodeFrames} from '../src/codec.js';

test('submit and submitBatch send a fresh 32-hex-digit requestId', async () => {
  const router = new zmq.Router({linger: 0});
  await router.bind('tcp://127.0.0.1:*');
  const client = new Client({broker: router.lastEndpoint, requestTimeoutMs: 5000});
  const seen = [];
  const serve = (async () => {
    for await (const [identity, ...frames] of router) {
      const {command, message} = decodeFrames(frames);
      seen.push({command, message});
      const reply = command === 'SUBMIT' ?
        {reqId: message.reqId, ids: message.tasks.map((_, i) => `t${seen.length}-${i}`)} :
        {reqId: message.reqId, batch: {id: 'b1', state: 'running', total: 1, tasks: {a: 't'}}};
      await router.send([identity, ...encodeFrames('REPLY', reply)]);
      if (seen.length === 3) break;
    }
  })();
  try {
    await client.submit({type: 'echo'});
    await client.submitMany([{type: 'echo'}, {type: 'echo'}]);
    await client.submitBatch({tasks: [{name: 'a', type: 'echo'}]});
    await serve;
  } finally {
    await client.close();
    router.close();
  }
  assert.deepEqual(seen.map((s) => s.command), ['SUBMIT', 'SUBMIT', 'BATCH']);
  for (const {message} of seen) assert.match(message.requestId, /^[0-9a-f]{32}$/);
  assert.equal(new Set(seen.map((s) => s.message.requestId)).size, 3);
});
