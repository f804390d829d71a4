// A submitted task, as BullMQ's Job: its id and the calls about it, bound to the client that
// submitted it. `await job.waitUntilFinished()` resolves with the TaskInfo of a success and
// rejects with TaskFailed (failed or cancelled) or TaskmillTimeout (still unfinished).
// String(job) and JSON.stringify(job) give the id; every Client call taking ids takes jobs.

export class Job {
  // `warnings`: the broker's about this submit (e.g. no connected worker serves its type).
  constructor(client, id, warnings = []) {
    this.client = client;
    this.id = id;
    this.warnings = warnings;
  }

  waitUntilFinished({timeoutMs = 60_000} = {}) {
    return this.client.result(this.id, {timeoutMs});
  }

  // The task as it is now.
  get() {
    return this.client.get(this.id);
  }

  async getState() {
    return (await this.client.get(this.id)).state;
  }

  // Resolves with 1 if it was cancelled (a running task stops once its worker confirms).
  cancel({reason = ''} = {}) {
    return this.client.cancel(this.id, {reason});
  }

  toString() {
    return this.id;
  }

  toJSON() {
    return this.id;
  }
}

// A task id from an id or a Job.
export function idOf(x) {
  return x instanceof Job ? x.id : x;
}
