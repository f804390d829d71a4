// Broker endpoint lists and the failover order (issue 17). The broker option,
// TASKMILL_BROKER and TASKMILL_WORKER_BROKER take a comma-separated list,
// 'tcp://a:5555,tcp://b:5555'; one endpoint works as before. A client or worker starts at a
// random position (spreading load over the brokers), moves to the next endpoint on a loss,
// round-robin, and after a whole cycle without a working connection waits the redial
// backoff before cycling again. It never moves back by itself when an old broker returns.

import {redialDelay} from './handshake.js';

const SCHEMES = ['tcp://', 'ipc://', 'inproc://'];

// A malformed list: an empty item or an unknown scheme (a usage error).
export class EndpointListError extends TypeError {
  constructor(message) {
    super(message);
    this.name = 'EndpointListError';
    this.code = 'invalid_argument';
  }
}

// The endpoints of a comma-separated list (or an array of them), spaces trimmed.
export function parseEndpoints(text) {
  const items = (Array.isArray(text) ? text : String(text).split(',')).map((s) => String(s).trim());
  items.forEach((item, i) => {
    if (!item) throw new EndpointListError(`broker endpoint list '${text}': item ${i + 1} is empty`);
    const scheme = SCHEMES.find((s) => item.startsWith(s));
    if (!scheme || item.length === scheme.length) {
      throw new EndpointListError(`broker endpoint list '${text}': '${item}' is not an ` +
        `endpoint (expected ${SCHEMES.map((s) => s + '...').join(', ')})`);
    }
  });
  return items;
}

// Where to connect next. Owned by one Client or Worker.
export class EndpointRing {
  constructor(endpoints, start = null) {
    this.endpoints = [...endpoints];
    // Index of the endpoint in use: random at first, so clients spread over brokers.
    this.index = start ?? Math.floor(Math.random() * endpoints.length);
    this.failedMoves = 0;  // moves since the last connection that worked
    this.moves = 0;        // moves in all
  }

  get current() {
    return this.endpoints[this.index];
  }

  // True iff there is another endpoint to move to.
  get several() {
    return this.endpoints.length > 1;
  }

  // Moves to the next endpoint; returns the ms to wait before dialling it: 0, except after a
  // whole cycle of moves without a working connection (the redial backoff, 500 ms doubling to
  // 5 s; with one endpoint every move is a whole cycle).
  advance() {
    this.index = (this.index + 1) % this.endpoints.length;
    this.failedMoves += 1;
    this.moves += 1;
    const n = this.endpoints.length;
    return this.failedMoves % n === 0 ? redialDelay(this.failedMoves / n) : 0;
  }

  // The broker at `current` works (it sent something other than GOAWAY/MOVE).
  connected() {
    this.failedMoves = 0;
  }
}
