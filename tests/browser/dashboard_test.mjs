// The dashboard in a real browser (Debian's headless Chromium driven by playwright-core):
// a redis-server, a taskmill-broker with an admin token and a worker, tasks submitted with
// the CLI. Loads the dashboard, sees a queue and a running batch's DAG, watches a figure
// change without a reload, sees a paused queue's and a quiet worker's badges, opens a task, retries a dead letter with the token and sees it
// leave the list; saves screenshots under the build dir.
//
// usage: node dashboard_test.mjs BUILD_DIR OUT_DIR
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [buildDir, outDir] = process.argv.slice(2);
if (!buildDir || !outDir) throw new Error('usage: node dashboard_test.mjs BUILD_DIR OUT_DIR');
const CHROMIUM = process.env.TASKMILL_CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'dash-admin-' + Math.random().toString(36).slice(2) + '-0123456789';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-browser-'));
const children = [];
const started = Date.now();

function step(what) { console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`); }

function start(cmd, args, log) {
  const out = fs.openSync(path.join(dir, log), 'w');
  const child = spawn(cmd, args, {stdio: ['ignore', out, out]});
  children.push(child);
  return child;
}

async function until(what, pred, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');  // ours, by PID
}
process.on('exit', cleanup);

let browser;
try {
  // ---- the cluster ----
  const sock = path.join(dir, 'redis.sock');
  start('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no'],
        'redis.log');
  await until('redis', () => fs.existsSync(sock));
  fs.writeFileSync(path.join(dir, 'admin.token'), TOKEN + '\n');
  const ready = path.join(dir, 'ready');
  start(path.join(buildDir, 'broker/taskmill-broker'),
        ['--redis-url', 'unix://' + sock, '--prefix', 'tmb' + process.pid + ':',
         '--frontend', 'tcp://127.0.0.1:*', '--backend', 'tcp://127.0.0.1:*', '--http', '127.0.0.1:0',
         '--ready-file', ready, '--http-token-file', path.join(dir, 'admin.token')], 'broker.log');
  const endpoints = await until('the broker ready file', () => fs.existsSync(ready) &&
      Object.fromEntries(fs.readFileSync(ready, 'utf8').trim().split('\n').map((l) => l.split('='))));
  start(path.join(buildDir, 'worker/taskmill-worker'),
        ['--broker', endpoints.backend, '--queues', 'default,emails', '--concurrency', '4',
         '--id', 'browser-w1'], 'worker.log');
  const cli = (...args) => execFileSync(path.join(buildDir, 'client/taskmill'),
                                        ['--broker', endpoints.frontend, ...args], {cwd: dir}).toString();
  const submit = (n) => { for (let i = 0; i < n; i++) cli('submit', '--type', 'echo', '--queue', 'emails', '--payload', '{"to":"a@b"}'); };
  submit(3);
  // Fails on its first run only (a marker file), so a retry from the dashboard succeeds.
  const mark = path.join(dir, 'ran-once');
  const flaky = cli('submit', '--type', 'exec', '--max-attempts', '1', '--payload',
                    JSON.stringify({argv: ['sh', '-c', `test -e ${mark} || { touch ${mark}; echo first run fails >&2; exit 3; }`]})).trim();
  fs.writeFileSync(path.join(dir, 'batch.json'), JSON.stringify({tasks: [
    {name: 'fetch', type: 'sleep', payload: '{"ms": 100}'},
    {name: 'parse', type: 'sleep', payload: '{"ms": 100}', depends_on: ['fetch']},
    {name: 'index', type: 'sleep', payload: '{"ms": 60000}', depends_on: ['fetch']},
    {name: 'report', type: 'echo', payload: '{}', depends_on: ['parse', 'index']}]}));
  cli('batch', 'run', 'batch.json');
  step('cluster up: ' + endpoints.http);

  // ---- the browser ----
  browser = await chromium.launch({executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync']});
  const page = await browser.newPage({viewport: {width: 1280, height: 900}});
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The one refusal the test provokes (a retry without the token) logs a 401; nothing else may.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('status of 401')) errors.push(m.text());
  });
  let loads = 0;
  page.on('load', () => loads++);
  const base = 'http://' + endpoints.http;
  await page.goto(base + '/');
  await page.waitForSelector('tr[data-queue="emails"]');
  step('overview shows the queue');

  // A figure changes without a reload: submitted grows by 2.
  const before = Number((await page.textContent('#total-submitted')).replace(/\D/g, ''));
  await page.evaluate(() => { window.__sameDocument = true; });
  submit(2);
  await page.waitForFunction((b) => Number(document.getElementById('total-submitted')
    .textContent.replace(/\D/g, '')) >= b + 2, before, {timeout: 8000});
  if (!(await page.evaluate(() => window.__sameDocument === true)) || loads !== 1) {
    throw new Error('the page reloaded instead of updating itself');
  }
  step(`submitted went from ${before} without a reload`);

  // `taskmill queue pause`: a badge beside the queue while it lasts (the page refreshes).
  cli('queue', 'pause', 'emails');
  await page.waitForSelector('tr[data-queue="emails"] .badge.paused', {timeout: 8000});
  cli('queue', 'resume', 'emails');
  await page.waitForSelector('tr[data-queue="emails"] .badge.paused',
                             {state: 'detached', timeout: 8000});
  // `taskmill worker quiet`: a badge in the workers table.
  cli('worker', 'quiet', 'browser-w1');
  await page.click('#nav a[data-page="workers"]');
  await page.waitForSelector('tr[data-id="browser-w1"] .badge.quiet', {timeout: 8000});
  cli('worker', 'unquiet', 'browser-w1');
  await page.waitForSelector('tr[data-id="browser-w1"] .badge.quiet',
                             {state: 'detached', timeout: 8000});
  step('paused queue and quiet worker badges shown and cleared');

  // The running batch's DAG: four nodes, edges, one running.
  await page.click('#nav a[data-page="batches"]');
  await page.click('#batches tr[data-id] a');
  await page.waitForSelector('#dag g.node[data-state="running"]');
  const nodes = await page.$$eval('#dag g.node', (gs) => gs.map((g) => g.getAttribute('data-state')));
  const edges = await page.$$eval('#dag path', (ps) => ps.length);
  if (nodes.length !== 4 || edges !== 4) throw new Error(`DAG has ${nodes.length} nodes, ${edges} edges`);
  await page.waitForSelector('#dag g.node[data-state="succeeded"]');
  step('batch DAG: ' + nodes.join(', '));
  await page.screenshot({path: path.join(outDir, 'dashboard-batch.png'), fullPage: true});

  // Open a task from the DAG.
  await page.click('#dag g.node[data-state="running"]');
  await page.waitForSelector('#task');
  const taskText = await page.textContent('#task');
  if (!taskText.includes('sleep') || !taskText.includes('browser-w1')) throw new Error('task page: ' + taskText);
  step('task page opened');

  // The dead letter: retry needs the token; with it the row leaves the list.
  await page.click('#nav a[data-page="dead"]');
  const row = `#dead tr[data-id="${flaky}"]`;
  await page.waitForSelector(row);
  await page.click(row + ' button.retry');
  await page.waitForFunction(() => /admin token/.test(document.getElementById('status').textContent));
  if (!(await page.$(row))) throw new Error('the dead letter left the list without a token');
  await page.fill('#token-input', TOKEN);
  await page.click('#token-save');
  await page.waitForFunction(() => document.getElementById('token-state').textContent === 'admin');
  await page.click(row + ' button.retry');
  await page.waitForSelector(row, {state: 'detached', timeout: 8000});
  const rerun = await until('the retried task to succeed', () => {
    const t = JSON.parse(cli('--json', 'get', flaky));
    const task = (t.tasks || [t])[0];
    return task.state === 'succeeded' && task;
  });
  step('dead letter retried and ran again: ' + rerun.state);
  if (await page.evaluate(() => location.href.includes('dash-admin'))) throw new Error('token in the URL');

  // The Tasks page: a queue no worker serves, its delayed task run now and a queued task's
  // priority raised from the dashboard (the admin token is set above).
  const held = [1, 2].map(() => cli('submit', '--type', 'echo', '--queue', 'held').trim());
  const later = cli('submit', '--type', 'echo', '--queue', 'held', '--not-before-ms',
                    String(Date.now() + 3600000)).trim();
  await page.click('#nav a[data-page="tasks"]');
  await page.fill('#tasks-queue', 'held');
  await page.selectOption('#tasks-state', 'delayed');
  await page.click('#tasks-form button[type="submit"]');
  await page.waitForSelector(`#tasks tr[data-id="${later}"]`);
  await page.click(`#tasks tr[data-id="${later}"] button.promote`);
  await page.waitForSelector(`#tasks tr[data-id="${later}"]`, {state: 'detached', timeout: 8000});
  await page.selectOption('#tasks-state', 'queued');
  await page.click('#tasks-form button[type="submit"]');
  await page.waitForSelector(`#tasks tr[data-id="${later}"]`);
  const order = () => page.$$eval('#tasks tr[data-id]', (rs) => rs.map((r) => r.dataset.id));
  if ((await order()).join() !== [...held, later].join()) throw new Error('queued order: ' + await order());
  await page.fill(`#tasks tr[data-id="${later}"] input.prio`, '200');
  await page.click(`#tasks tr[data-id="${later}"] button.set-prio`);
  await page.waitForFunction((id) => document.querySelector('#tasks tr[data-id]')?.dataset.id === id,
                             later, {timeout: 8000});
  step('tasks page: promoted a delayed task and moved it to the front: ' + (await order()).join(' '));
  await page.screenshot({path: path.join(outDir, 'dashboard-tasks.png'), fullPage: true});

  await page.click('#nav a[data-page="overview"]');
  // The chart: a few samples (one per 2 s) so the screenshot shows lines, not a point.
  await page.waitForFunction(() => [...document.querySelectorAll('#chart path')]
    .some((p) => (p.getAttribute('d').match(/L/g) || []).length >= 3), null, {timeout: 15000});
  await page.screenshot({path: path.join(outDir, 'dashboard-overview.png'), fullPage: true});
  if (errors.length) throw new Error('browser errors: ' + errors.join('; '));
  step('PASS (screenshots in ' + outDir + ')');
} catch (e) {
  console.error('FAIL: ' + e.message);
  for (const log of ['broker.log', 'worker.log']) {
    try { console.error(`--- ${log}\n` + fs.readFileSync(path.join(dir, log), 'utf8').slice(-3000)); } catch {}
  }
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  cleanup();
  fs.rmSync(dir, {recursive: true, force: true});
}
