import {Client} from 'taskmill';

// A diamond: fetch -> (upper, reverse) -> join. An exec step reads each parent's output
// (its stdout) from $TASKMILL_PARENTS_DIR/<parent name> and reports costs as JSON in
// $TASKMILL_COST_FILE.
const sh = (/** @type {string} */ script) => ({argv: ['sh', '-c', script]});
const parent = (/** @type {string} */ name) => `"$TASKMILL_PARENTS_DIR/${name}"`;
const client = new Client();  // $TASKMILL_BROKER, else tcp://127.0.0.1:5555
try {
  const {status, events} = await client.submitBatch({
    budget: {usd: 1},
    subscribe: true,
    tasks: [
      {name: 'fetch', type: 'exec',
        payload: sh('echo \'{"usd": 0.25}\' > "$TASKMILL_COST_FILE"; printf data')},
      {name: 'upper', type: 'exec', dependsOn: ['fetch'],
        payload: sh(`tr a-z A-Z < ${parent('fetch')}`)},
      {name: 'reverse', type: 'exec', dependsOn: ['fetch'], payload: sh(`rev ${parent('fetch')}`)},
      {name: 'join', type: 'exec', dependsOn: ['upper', 'reverse'],
        payload: sh(`cat ${parent('upper')} ${parent('reverse')}`)},
    ],
  });
  for await (const e of events) console.log(e.type, e.taskName, `${e.done}/${e.total}`);
  const {status: done, tasks} = await client.waitBatch(status.id);
  console.log(done.state, tasks.join.stdout.toString(), `usd=${done.cost.usd}`);
} finally {
  await client.close();
}
