// Type-checked by `tsc --noEmit` (test/types.test.mjs), never run: the public API as the
// README uses it, against the hand-written types/index.d.ts.
import {Client, EndpointListError, Job, PermanentError, TaskFailed, Worker, elapsedMs} from 'taskmill';
import type {QueueStats, Task, TaskInfo, WorkerInfo} from 'taskmill';

async function client(): Promise<void> {
  const c = new Client({broker: 'tcp://127.0.0.1:5555', requestTimeoutMs: 5000});
  const job: Job = await c.submit({type: 'resize', payload: {width: 64}, maxAttempts: 3});
  const info: TaskInfo = await job.waitUntilFinished({timeoutMs: 10_000});
  const state: string = await job.getState();
  const again: TaskInfo = await c.wait(job);
  const many: TaskInfo[] = await c.wait([job, 'some-id']);
  const jobs: Job[] = await c.submitMany([{type: 'echo'}], {notify: true});
  console.log(info.output.toString(), state, again.state, many.length, jobs[0].id, `${job}`);
  try {
    await c.result(job.id);
  } catch (err) {
    if (err instanceof TaskFailed) console.log(err.error?.code, err.attempts);
  }
  const {status} = await c.submitBatch({tasks: [{name: 'a', type: 'echo'}]});
  const {tasks} = await c.waitBatch(status.id);
  console.log(tasks.a.state);
  const asked = await c.cancelMany([job]);
  const requested: string[] = asked.requested;
  const ranMs: number = elapsedMs(await c.get(job));
  console.log(requested.length, ranMs);
  const limit: string = await c.setQueueLimit('images', {rate: '100/s', concurrency: 5,
    keyLabel: 'tenant'});
  const {queues} = await c.stats({queues: ['images']});
  console.log(limit, queues[0].limit, queues[0].limitRunning, queues[0].throttled);
  await c.clearQueueLimit('images');
  const paused: boolean = (await c.pauseQueue('images')).paused;
  const resumed: QueueStats = await c.resumeQueue('images');
  const quiet: WorkerInfo = await c.quietWorker('w-1');
  const back: boolean = (await c.unquietWorker('w-1')).quiet;
  console.log(paused, resumed.paused, quiet.broker, quiet.quiet, back);
  await c.close();
}

async function worker(): Promise<void> {
  const w = new Worker({queues: ['default'], concurrency: 4, cancelGraceMs: 2000,
    warn: (line: string) => console.error(line)});
  w.handle('resize', async (task: Task) => {
    task.signal.throwIfAborted();
    if (task.payload.length === 0) throw new PermanentError('empty', 'bad_input');
    task.progress(0.5, 'half');
    task.addCost('usd', 0.01);
    return JSON.stringify({ok: true});
  });
  await w.run();
}

void client;
void worker;

// Issue 17: endpoint lists and the move event.
{
  const ha = new Client({broker: 'tcp://a:5555,tcp://b:5555'});
  ha.on('move', (m) => console.log(m.from, m.to, m.reason, m.delayMs + ha.moves));
  const w = new Worker({broker: 'tcp://a:5556, tcp://b:5556'});
  console.log(w.moves, new EndpointListError('x').code);
}

// Issue 22: LIST and UPDATE.
async function listing(c: Client): Promise<void> {
  const page = await c.listTasks('emails', 'delayed', {type: 'send', limit: 10});
  const next: string = page.nextCursor;
  const moved = await c.setPriority(page.tasks[0].id, 9);
  const now = await c.promote(moved.id);
  const batches = await c.listBatches({state: 'running', cursor: next});
  console.log(now.readyAtMs, batches.batches.length);
}
void listing;
