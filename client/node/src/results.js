// Results the broker pushes (RESULT, docs/protocol-messages.md 8.10) for tasks submitted with
// notify, kept until a caller takes them, so that waiting for a result costs no request.
// Mirrors the C++ and Python clients' result tables. Not public API.

// Arrived results kept until taken, oldest dropped first; expected ids at most ten times
// this. A dropped one costs a WAIT when it is waited for, never its result.
export const DEFAULT_MAX_KEPT = 100_000;

export class ResultTable {
  constructor(maxKept = DEFAULT_MAX_KEPT) {
    this.maxKept = Math.max(1, maxKept);
    this.arrived = new Map();   // id -> TaskInfo, oldest first
    this.expected = new Map();  // id -> [resolve] of its waiters, oldest first
  }

  get size() {
    return this.arrived.size + this.expected.size;
  }

  // Registers ids submitted with notify: called when the SUBMIT's REPLY is handled, before
  // the pushes that follow it on the connection.
  expect(ids) {
    for (const id of ids) {
      if (!id || this.arrived.has(id) || this.expected.has(id)) continue;
      this.expected.set(id, []);
    }
    while (this.expected.size > 10 * this.maxKept) {
      const [oldest, waiters] = this.expected.entries().next().value;
      this.expected.delete(oldest);
      for (const resolve of waiters) resolve(null);
    }
  }

  // A RESULT arrived; kept even if nobody expects it.
  onResult(task) {
    const waiters = this.expected.get(task.id);
    this.expected.delete(task.id);
    if (waiters && waiters.length > 0) {
      // Its waiter takes it now.
      for (const resolve of waiters) resolve(task);
      return;
    }
    this.arrived.delete(task.id);  // a repeated push is kept as the newest
    this.arrived.set(task.id, task);
    while (this.arrived.size > this.maxKept) this.arrived.delete(this.arrived.keys().next().value);
  }

  // A new connection: the pushes still expected went to the old one; their waiters ask.
  onReconnect() {
    const lost = [...this.expected.values()];
    this.expected.clear();
    for (const waiters of lost) for (const resolve of waiters) resolve(null);
  }

  // The pushed result: resolves with the TaskInfo; with null when the push cannot come
  // (not held, dropped, or lost to a reconnect: ask the broker); with undefined at the
  // timeout (still expected: a later take may still get it).
  take(id, timeoutMs) {
    const task = this.arrived.get(id);
    if (task) {
      this.arrived.delete(id);
      return Promise.resolve(task);
    }
    const waiters = this.expected.get(id);
    if (!waiters) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      function done(value) {
        clearTimeout(timer);
        resolve(value);
      }
      waiters.push(done);
    });
  }
}
