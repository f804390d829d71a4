import {Client} from 'taskmill';

const client = new Client({broker: process.env.TASKMILL_BROKER ?? 'tcp://127.0.0.1:5555'});
try {
  const job = await client.submit({type: 'exec', payload: {argv: ['echo', 'hello']}});
  const task = await job.waitUntilFinished({timeoutMs: 30_000});  // TaskFailed unless it succeeded
  console.log(task.exitCode, task.stdout.toString().trim());  // 0 hello
} finally {
  await client.close();
}
