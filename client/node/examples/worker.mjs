import {PermanentError, Worker} from 'taskmill';

// The broker's worker port: $TASKMILL_WORKER_BROKER, else tcp://127.0.0.1:5556.
const worker = new Worker({queues: ['default'], concurrency: 4});

worker.handle('resize', async (task) => {
  const {width} = JSON.parse(task.payload.toString());
  if (!(width > 0)) throw new PermanentError(`bad width ${width}`);  // failed, no retry
  for (let step = 1; step <= 4; step++) {
    task.signal.throwIfAborted();  // cancelled, timed out or draining
    await new Promise((resolve) => setTimeout(resolve, 10));
    task.progress(step / 4, `step ${step}`);
  }
  task.addCost('usd', 0.001 * width);
  return JSON.stringify({width, height: width / 2});  // the task's output
});

await worker.run();  // until SIGTERM/SIGINT or a DRAIN from the broker
