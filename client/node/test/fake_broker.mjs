// A broker stand-in for worker tests: a ROUTER on a loopback port speaking the real codec,
// so a test drives one Worker message by message.

import * as zmq from 'zeromq';

import {decodeFrames, encodeFrames} from '../src/codec.js';

export class FakeBroker {
  async start() {
    this.router = new zmq.Router({linger: 0});
    await this.router.bind('tcp://127.0.0.1:*');
    this.endpoint = this.router.lastEndpoint;
    this.identity = null;
    this.history = [];  // every {command, message} received
    this.waiters = [];
    this.reading = this.read();
    return this;
  }

  async read() {
    try {
      for await (const [identity, ...frames] of this.router) {
        this.identity = identity;
        const msg = decodeFrames(frames);
        msg.frames = frames;  // the bytes as sent, for tests of a resend
        this.history.push(msg);
        for (const w of [...this.waiters]) w();
      }
    } catch {
      // closed
    }
  }

  // The first message of `command` after index `from` matching `pred`; rejects at timeout.
  // raw: resolve with the history entry ({command, message, frames}) instead of the message.
  waitFor(command, {pred = () => true, timeoutMs = 10_000, from = 0, raw = false} = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.history.slice(from).find((m) => m.command === command && pred(m.message));
        if (!hit) return false;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(raw ? hit : hit.message);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }

  send(command, message) {
    return this.router.send([this.identity, ...encodeFrames(command, message)]);
  }

  task(taskId, type, {payload = Buffer.alloc(0), token = 7, timeoutMs = 0} = {}) {
    return this.send('TASK', {taskId, token, type, queue: 'q', payload, attempt: 1, timeoutMs});
  }

  close() {
    this.router.close();
  }
}
