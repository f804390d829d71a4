// A subscription to one batch's events: an EventEmitter ('event' for each, and one named
// after each event's type, then 'end') and an async iterator that ends after the
// batch_completed event. Events that arrive before anyone reads them are buffered.
// Created by Client.subscribe / Client.submitBatch; close() unsubscribes.

import {EventEmitter} from 'node:events';

export class Subscription extends EventEmitter {
  constructor(batchId, onClose) {
    super();
    this.batchId = batchId;
    this.ended = false;       // true iff batch_completed was seen or close() was called
    this.buffer = [];         // events not yet taken by the iterator
    this.waiting = [];        // resolvers of iterator next() calls waiting for an event
    this.onClose = onClose;
  }

  // Called by the client for each EVENT of this batch.
  push(event) {
    if (this.ended) return;
    this.emit('event', event);
    this.emit(event.type, event);
    if (this.waiting.length > 0) {
      this.waiting.shift()({value: event, done: false});
    } else {
      this.buffer.push(event);
    }
    if (event.type === 'batch_completed') this.finish();
  }

  finish() {
    if (this.ended) return;
    this.ended = true;
    for (const resolve of this.waiting.splice(0)) resolve({value: undefined, done: true});
    this.emit('end');
    this.onClose(this);
  }

  // Stops receiving (and tells the broker when it was the client's last subscription to
  // this batch). Events already buffered can still be iterated.
  async close() {
    this.finish();
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.buffer.length > 0) return Promise.resolve({value: this.buffer.shift(), done: false});
        if (this.ended) return Promise.resolve({value: undefined, done: true});
        return new Promise((resolve) => this.waiting.push(resolve));
      },
      return: async () => {
        await this.close();
        return {value: undefined, done: true};
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}
