// The taskmill dashboard: a hash-routed page that polls the broker's /api every second.
// Every value from the API goes into the page as text (textContent or SVG attributes),
// never as HTML. The token lives in sessionStorage and goes out only in the
// Authorization header.
'use strict';

const TOKEN_KEY = 'taskmill-token';
const POLL_MS = 1000;
const SVG = 'http://www.w3.org/2000/svg';
let timer = null;
let generation = 0;  // bumped on navigation: answers for an older page are dropped

function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4))
                                    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') el.addEventListener('click', v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : '-');
const fmtNum = (n) => (typeof n === 'number' ? (Number.isInteger(n) ? n.toLocaleString()
                                                                     : n.toFixed(4)) : '-');
const stateTag = (s) => h('span', {class: 'state s-' + s}, s || '?');
const link = (hash, text) => h('a', {href: hash}, text);

async function api(path, options) {
  const headers = {'Accept': 'application/json'};
  if (token()) headers['Authorization'] = 'Bearer ' + token();
  if (options && options.body) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, Object.assign({headers, cache: 'no-store'}, options || {}));
  const body = await r.json().catch(() => ({error: 'HTTP ' + r.status}));
  if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
  return body;
}

function say(text, ok) {
  const s = document.getElementById('status');
  s.textContent = text || '';
  s.className = ok ? 'ok' : '';
}

// ---- pages: each returns the nodes to show, built from fresh API answers ----

function card(key, value, id) {
  return h('div', {class: 'card'}, h('div', {class: 'v', id}, typeof value === 'string' ? value : fmtNum(value)),
           h('div', {class: 'k'}, key));
}

function chart(history) {
  const W = 1200, H = 180, P = 30;
  const svg = h('svg:svg', {width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: 'chart'});
  const rates = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1], b = history[i], dt = (b.at_ms - a.at_ms) / 1000;
    if (dt <= 0) continue;
    rates.push({t: b.at_ms, done: (b.succeeded - a.succeeded) / dt,
                failed: (b.failed - a.failed) / dt, depth: b.ready + b.running});
  }
  const lines = [['done', '#2fb36d'], ['failed', '#e5484d'], ['depth', '#3d8bfd']];
  if (rates.length < 2) {
    svg.append(h('svg:text', {x: P, y: H / 2}, 'collecting samples (one every 2 s)...'));
    return svg;
  }
  const t0 = rates[0].t, t1 = rates[rates.length - 1].t;
  const max = Math.max(1, ...rates.map((r) => Math.max(r.done, r.failed, r.depth)));
  const x = (t) => P + (W - 2 * P) * (t - t0) / Math.max(1, t1 - t0);
  const y = (v) => H - P + 10 - (H - 2 * P) * v / max;
  svg.append(h('svg:line', {x1: P, y1: y(0), x2: W - P, y2: y(0), stroke: '#ccd'}));
  svg.append(h('svg:text', {x: 2, y: y(max) + 4}, max.toFixed(1)));
  svg.append(h('svg:text', {x: P, y: H - 4}, Math.round((t1 - t0) / 1000) + ' s shown'));
  for (const [key, color] of lines) {
    const d = rates.map((r, i) => (i ? 'L' : 'M') + x(r.t).toFixed(1) + ' ' + y(r[key]).toFixed(1));
    svg.append(h('svg:path', {d: d.join(' '), stroke: color, fill: 'none', 'stroke-width': 2}));
  }
  return svg;
}

async function overviewPage() {
  const o = await api('/api/overview?limit=500');
  const t = o.totals;
  const queues = h('table', {id: 'queues'},
    h('tr', {}, ['queue', 'ready', 'delayed', 'blocked', 'running', 'awaiting', 'dead',
                 'submitted', 'succeeded', 'failed', 'retried', 'cancelled', 'expired',
                 'limits'].map((c, i) => h('th', {class: i && i < 13 ? 'n' : ''}, c))),
    o.queues.map((q) => h('tr', {'data-queue': q.queue},
      // `taskmill queue pause`: a badge beside the name while nothing of it is leased.
      h('td', {}, q.queue, q.paused ? h('span', {class: 'badge paused'}, 'paused') : null),
      ['ready', 'delayed', 'blocked', 'running', 'awaiting', 'dead', 'submitted', 'succeeded',
       'failed', 'retried', 'cancelled', 'expired'].map((k) => h('td', {class: 'n'},
        fmtNum(q[k] || 0))),
      // `taskmill queue limit`: the setting, leases it counts, tasks it held back.
      h('td', {class: 'limits'}, q.limit
        ? `${q.limit} (limited running ${fmtNum(q.limit_running)},` +
          ` throttled ${fmtNum(q.throttled)})`
        : ''))));
  const costs = Object.entries(t.cost || {});
  return [
    h('h2', {}, 'Overview ', h('span', {class: 'muted'}, o.broker)),
    h('div', {class: 'cards'}, card('submitted', t.submitted, 'total-submitted'),
      card('succeeded', t.succeeded, 'total-succeeded'), card('failed', t.failed, 'total-failed'),
      card('ready + running', t.ready + t.running, 'total-backlog'),
      card('dead letters', t.dead, 'total-dead'), card('workers', o.workers, 'total-workers'),
      card('slots busy / free', `${o.slots_busy} / ${o.slots_free}`)),
    h('h3', {}, 'Throughput and depth'),
    h('div', {class: 'chart'}, chart(o.history), h('div', {class: 'legend'},
      [['#2fb36d', 'succeeded / s'], ['#e5484d', 'failed / s'], ['#3d8bfd', 'ready + running']]
        .map(([c, n]) => { const i = h('i'); i.style.background = c; return h('span', {}, i, n); }))),
    h('h3', {}, `Queues (${o.queue_count})`), queues,
    h('h3', {}, 'Cost totals'),
    costs.length ? h('table', {id: 'costs'}, costs.map(([k, v]) =>
      h('tr', {}, h('td', {}, k), h('td', {class: 'n'}, fmtNum(v))))) : h('p', {class: 'muted'}, 'none reported'),
  ];
}

async function workersPage() {
  const w = await api('/api/workers?limit=500');
  return [h('h2', {}, `Workers (${w.total})`),
    h('p', {class: 'muted', id: 'brokers'}, `brokers: ${(w.brokers || []).join(', ')} (this one: ${w.broker_id || '-'})`),
    h('table', {id: 'workers'},
    h('tr', {}, ['id', 'broker', 'host', 'queues', 'types', 'slots', 'in flight', 'last heartbeat'].map(
        (c) => h('th', {}, c))),
    w.workers.map((x) => h('tr', {'data-id': x.id}, h('td', {}, x.id + (x.draining ? ' (draining)' : ''),
        // `taskmill worker quiet`: finishes its tasks, takes nothing new.
        x.quiet ? h('span', {class: 'badge quiet'}, 'quiet') : null),
      h('td', {}, x.broker || '-'), h('td', {}, x.host || '-'), h('td', {}, x.queues.join(', ')),
      h('td', {}, x.types.length ? x.types.join(', ') : 'any'), h('td', {class: 'n'}, x.slots),
      h('td', {class: 'n'}, x.in_flight), h('td', {}, x.last_heartbeat_ms_ago == null ? 'on ' + x.broker
        : (x.last_heartbeat_ms_ago / 1000).toFixed(1) + ' s ago'))))];
}

function costVsBudget(b) {
  const names = new Set([...Object.keys(b.cost || {}), ...Object.keys(b.budget || {})]);
  if (!names.size) return '-';
  return [...names].map((n) => `${n} ${fmtNum(b.cost[n] || 0)}` +
                               (b.budget[n] !== undefined ? ` / ${fmtNum(b.budget[n])}` : '')).join(', ') +
         (b.budget_exceeded ? ' (over budget)' : '');
}

function progress(b) {
  const c = b.counts || {};
  const done = (c.succeeded || 0) + (c.failed || 0) + (c.cancelled || 0) + (c.expired || 0);
  const bar = h('span', {class: 'bar'}, h('i'));
  bar.firstChild.style.width = (b.total ? 100 * done / b.total : 0) + '%';
  return h('span', {}, bar, ` ${done} / ${b.total}`);
}

// A task's latest stored progress (running tasks report it): a bar, the percentage, the message.
function taskProgress(t) {
  if (t.progress === undefined) return '-';
  const bar = h('span', {class: 'bar'}, h('i'));
  bar.firstChild.style.width = (100 * t.progress) + '%';
  return h('span', {class: 'task-progress'}, bar, ` ${Math.round(100 * t.progress)}%`,
    t.progress_message ? ' ' + t.progress_message : '');
}

function batchRows(batches) {
  return batches.map((b) => h('tr', {'data-id': b.id}, h('td', {}, link('#/batch/' + encodeURIComponent(b.id), b.id)),
    h('td', {}, stateTag(b.state)), h('td', {}, progress(b)), h('td', {}, costVsBudget(b)),
    h('td', {}, fmtTime(b.created_ms))));
}

async function batchesPage() {
  const r = await api('/api/batches?limit=50');
  // Every stored batch, oldest first, a page at a time (LIST of batches); the cursor is in the hash.
  const cursor = tasksQuery().get('cursor') || '';
  const all = await api('/api/batches/all?limit=50' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
  const head = () => h('tr', {}, ['batch', 'state', 'progress', 'cost / budget', 'created'].map((c) => h('th', {}, c)));
  return [h('h2', {}, 'Batches'), h('p', {class: 'muted'}, 'Batches this broker saw change since it started, newest first.'),
    h('table', {id: 'batches'}, head(), batchRows(r.batches)),
    h('h3', {}, 'Every stored batch'), h('p', {class: 'muted'}, 'By creation, oldest first, 50 a page.'),
    h('table', {id: 'all-batches'}, head(), batchRows(all.batches)),
    h('p', {}, cursor ? link('#/batches', 'First page') : null, ' ',
      all.next_cursor ? link('#/batches?cursor=' + encodeURIComponent(all.next_cursor), 'Next page') : null)];
}

// A layered layout: each task one column right of its deepest parent.
function dag(tasks) {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const depth = new Map();
  const depthOf = (t, seen) => {
    if (depth.has(t.id)) return depth.get(t.id);
    if (seen.has(t.id)) return 0;  // a cycle cannot happen; never loop if it did
    seen.add(t.id);
    let d = 0;
    for (const p of t.parents || []) if (byId.has(p)) d = Math.max(d, depthOf(byId.get(p), seen) + 1);
    depth.set(t.id, d);
    return d;
  };
  const columns = [];
  for (const t of [...tasks].sort((a, b) => (a.name || '').localeCompare(b.name || ''))) {
    const d = depthOf(t, new Set());
    (columns[d] = columns[d] || []).push(t);
  }
  const NW = 130, NH = 26, GX = 60, GY = 14;
  const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  const W = Math.max(300, columns.length * (NW + GX) + 20), H = rows * (NH + GY) + 20;
  const svg = h('svg:svg', {id: 'dag', width: W, height: H, viewBox: `0 0 ${W} ${H}`});
  const pos = new Map();
  columns.forEach((col, ci) => (col || []).forEach((t, ri) =>
    pos.set(t.id, {x: 10 + ci * (NW + GX), y: 10 + ri * (NH + GY)})));
  for (const t of tasks) for (const p of t.parents || []) {
    const a = pos.get(p), b = pos.get(t.id);
    if (!a || !b) continue;
    const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y + NH / 2, mx = (x1 + x2) / 2;
    svg.append(h('svg:path', {d: `M${x1} ${y1} C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`}));
  }
  const colors = {queued: '#8fa3bf', delayed: '#b59ad9', blocked: '#9aa1ab', running: '#3d8bfd',
                  succeeded: '#2fb36d', failed: '#e5484d', cancelled: '#f0a000',
                  expired: '#8a6d5b'};
  for (const t of tasks) {
    const p = pos.get(t.id);
    const label = (t.name || t.id).slice(0, 18);
    const g = h('svg:g', {class: 'node', 'data-id': t.id, 'data-state': t.state,
                          transform: `translate(${p.x} ${p.y})`,
                          onclick: () => { location.hash = '#/task/' + encodeURIComponent(t.id); }},
      h('svg:rect', {width: NW, height: NH, fill: colors[t.state] || '#bbb'}),
      h('svg:text', {x: 8, y: 17}, label), h('svg:title', {}, `${t.name || ''} ${t.id}: ${t.state}`));
    svg.append(g);
  }
  return svg;
}

async function batchPage(id) {
  const b = await api('/api/batch?limit=500&id=' + encodeURIComponent(id));
  return [h('h2', {}, 'Batch ', b.id, ' ', stateTag(b.state)),
    h('div', {class: 'cards'}, card('tasks', b.total), h('div', {class: 'card'}, progress(b),
      h('div', {class: 'k'}, 'progress')), h('div', {class: 'card'}, costVsBudget(b), h('div', {class: 'k'}, 'cost / budget')),
      card('critical path ms', b.critical_path_ms)),
    h('h3', {}, 'Tasks'), dag(b.tasks),
    b.next_cursor !== '0' ? h('p', {class: 'muted'}, 'Showing the first 500 tasks.') : null,
    h('table', {id: 'batch-tasks'}, h('tr', {}, ['name', 'task', 'state', 'attempts', 'progress'].map((c) => h('th', {}, c))),
      b.tasks.map((t) => h('tr', {'data-id': t.id}, h('td', {}, t.name || ''),
        h('td', {}, link('#/task/' + encodeURIComponent(t.id), t.id)), h('td', {}, stateTag(t.state)),
        h('td', {class: 'n'}, `${t.attempts || 0} / ${t.max_attempts || 0}`),
        h('td', {}, t.state === 'running' ? taskProgress(t) : ''))))];
}

async function act(path, ids, done) {
  try {
    const r = await api(path, {method: 'POST', body: JSON.stringify({ids})});
    say(done(r), true);
  } catch (e) {
    say(e.message);
  }
  refresh();
}

async function taskPage(id) {
  const t = await api('/api/task?id=' + encodeURIComponent(id));
  const terminal = ['succeeded', 'failed', 'cancelled', 'expired'].includes(t.state);
  const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
  const blob = (name, v) => (v ? [h('h3', {}, name), h('pre', {id: 'task-' + name}, v)] : []);
  return [h('h2', {}, 'Task ', t.id, ' ', stateTag(t.state), ' ',
      !terminal ? h('button', {id: 'cancel', class: 'danger',
        onclick: () => act('/api/cancel', [t.id], (r) => 'cancel: ' + r.items[0].status)}, 'Cancel') : null),
    h('dl', {id: 'task'}, row('queue', t.queue), row('type', t.type),
      row('batch', t.batch ? link('#/batch/' + encodeURIComponent(t.batch), t.batch) : '-'),
      row('name', t.name || '-'), row('attempts', `${t.attempts} / ${t.max_attempts}`),
      row('progress', taskProgress(t)),
      row('worker', t.worker || '-'), row('exit code', t.exit_code ?? '-'),
      row('error', t.error ? `${t.error.code}: ${t.error.message}` : '-'),
      row('created', fmtTime(t.created_ms)), row('started', fmtTime(t.started_ms)),
      row('finished', fmtTime(t.finished_ms)), row('duration', t.duration_ms + ' ms'),
      row('cost', Object.entries(t.cost).map(([k, v]) => `${k}=${fmtNum(v)}`).join(', ') || '-'),
      row('priority', t.spec.priority), row('timeout', t.spec.timeout_ms ? t.spec.timeout_ms + ' ms' : 'none'),
      row('parents', (t.parents || []).join(', ') || '-')),
    blob('payload', t.spec.payload), blob('output', t.output), blob('stdout', t.stdout),
    blob('stderr', t.stderr),
    t.history.length ? [h('h3', {}, 'Earlier attempts'), h('table', {id: 'history'},
      h('tr', {}, h('th', {}, '#'), h('th', {}, 'code'), h('th', {}, 'message')),
      t.history.map((e, i) => h('tr', {}, h('td', {}, i + 1), h('td', {}, e.code), h('td', {}, e.message))))] : []];
}

async function deadPage() {
  const r = await api('/api/dead?limit=200');
  return [h('h2', {}, 'Dead letters'), h('table', {id: 'dead'},
    h('tr', {}, ['task', 'queue', 'type', 'error', 'attempts', 'failed at', ''].map((c) => h('th', {}, c))),
    r.dead.map((t) => h('tr', {'data-id': t.id}, h('td', {}, link('#/task/' + encodeURIComponent(t.id), t.id)),
      h('td', {}, t.queue), h('td', {}, t.type), h('td', {}, t.error ? `${t.error.code}: ${t.error.message}` : '-'),
      h('td', {class: 'n'}, t.attempts), h('td', {}, fmtTime(t.finished_ms)),
      h('td', {}, h('button', {class: 'retry', onclick: () => act('/api/dead/retry', [t.id], (x) => `retried ${x.retried.length}`)}, 'Retry'),
        ' ', h('button', {class: 'purge danger', onclick: () => {
          if (confirm('Delete ' + t.id + ' for good?')) act('/api/dead/purge', [t.id], (x) => `purged ${x.purged.length}`);
        }}, 'Purge'))))),
    r.dead.length ? null : h('p', {id: 'dead-empty', class: 'muted'}, 'No dead letters.')];
}

// ---- Tasks: a queue's tasks in one state, a page at a time (GET /api/tasks, LIST) ----

const TASK_STATES = ['queued', 'delayed', 'blocked', 'running', 'awaiting', 'succeeded', 'failed',
                     'cancelled', 'expired'];

function tasksQuery() {
  const q = location.hash.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : location.hash.slice(q + 1));
}

function showTasks(params) {
  location.hash = '#/tasks?' + new URLSearchParams(params).toString();
}

async function update(body, done) {
  try {
    const t = await api('/api/update', {method: 'POST', body: JSON.stringify(body)});
    say(done(t), true);
  } catch (e) {
    say(e.message);
  }
  refresh();
}

function whenOf(t) {
  if (t.state === 'delayed') return 'ready ' + fmtTime(t.ready_at_ms);
  if (t.state === 'running' || t.state === 'awaiting') return 'started ' + fmtTime(t.started_ms);
  if (t.finished_ms) return 'finished ' + fmtTime(t.finished_ms);
  return 'created ' + fmtTime(t.created_ms);
}

function taskActions(t) {
  const out = [];
  if (t.state === 'delayed') {
    out.push(h('button', {class: 'promote', onclick: () => update({id: t.id, op: 'promote'},
      (x) => `${x.id} promoted: ${x.state}`)}, 'Run now'), ' ');
  }
  if (['queued', 'delayed', 'blocked'].includes(t.state)) {
    const input = h('input', {class: 'prio', type: 'number', min: 0, max: 255, value: t.priority,
                              'aria-label': 'priority of ' + t.id});
    out.push(input, h('button', {class: 'set-prio', onclick: () => update(
      {id: t.id, op: 'priority', priority: Number(input.value)},
      (x) => `${x.id} priority ${x.priority}`)}, 'Set priority'));
  }
  return out;
}

// Not polled (its form keeps what is typed): Show, Next page and the actions redraw it.
async function tasksPage() {
  const p = tasksQuery();
  const queue = p.get('queue') || '', state = p.get('state') || 'queued';
  const type = p.get('type') || '', cursor = p.get('cursor') || '';
  const qIn = h('input', {id: 'tasks-queue', value: queue, placeholder: 'queue', required: ''});
  const sIn = h('select', {id: 'tasks-state'}, TASK_STATES.map((s) => h('option', {value: s}, s)));
  sIn.value = state;
  const tIn = h('input', {id: 'tasks-type', value: type, placeholder: 'type (any)'});
  const form = h('form', {id: 'tasks-form', class: 'filters'}, 'queue ', qIn, ' state ', sIn, ' type ', tIn,
    ' ', h('button', {type: 'submit'}, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    showTasks({queue: qIn.value.trim(), state: sIn.value, type: tIn.value.trim()});
  });
  const head = [h('h2', {}, 'Tasks'), form];
  if (!queue) return [...head, h('p', {class: 'muted'}, 'Pick a queue and a state.')];
  const args = new URLSearchParams({queue, state, limit: '50'});
  if (type) args.set('type', type);
  if (cursor) args.set('cursor', cursor);
  const r = await api('/api/tasks?' + args.toString());
  return [...head, h('table', {id: 'tasks'},
    h('tr', {}, ['task', 'name', 'type', 'state', 'priority', 'attempts', 'when', 'error', ''].map((c) => h('th', {}, c))),
    r.tasks.map((t) => h('tr', {'data-id': t.id}, h('td', {}, link('#/task/' + encodeURIComponent(t.id), t.id)),
      h('td', {}, t.name || '-'), h('td', {}, t.type), h('td', {}, stateTag(t.state)),
      h('td', {class: 'n'}, t.priority), h('td', {class: 'n'}, `${t.attempts} / ${t.max_attempts}`),
      h('td', {}, whenOf(t)), h('td', {}, t.error ? t.error.code : '-'), h('td', {}, taskActions(t))))),
  r.tasks.length ? null : h('p', {id: 'tasks-empty', class: 'muted'},
    r.next_cursor ? 'None in this stretch of the index; the next page reads on.' : 'No tasks.'),
  h('p', {}, cursor ? h('button', {id: 'tasks-first', onclick: () => showTasks({queue, state, type})}, 'First page') : null, ' ',
    r.next_cursor ? h('button', {id: 'tasks-next', onclick: () => showTasks({queue, state, type, cursor: r.next_cursor})},
      'Next page') : null)];
}

function fmtEvery(ms) {
  for (const [unit, size] of [['h', 3600000], ['m', 60000], ['s', 1000]]) {
    if (ms % size === 0) return `every ${ms / size}${unit}`;
  }
  return `every ${ms}ms`;
}

async function schedulesPage() {
  const r = await api('/api/schedules');
  return [h('h2', {}, 'Schedules'), h('table', {id: 'schedules'},
    h('tr', {}, ['name', 'when', 'task', 'next run', 'last run', 'fired', 'missed', 'catch-up'].map((c) => h('th', {}, c))),
    r.schedules.map((s) => h('tr', {'data-name': s.name}, h('td', {}, s.name),
      h('td', {}, s.cron ? `${s.cron} (${s.tz || 'UTC'})` : fmtEvery(s.every_ms)),
      h('td', {}, `${s.queue}/${s.type}`),
      h('td', {class: 'next-run'}, s.paused ? 'paused' : fmtTime(s.next_run_ms)),
      h('td', {}, s.last_task_id ? link('#/task/' + encodeURIComponent(s.last_task_id), fmtTime(s.last_run_ms)) : '-'),
      h('td', {class: 'n'}, s.fired), h('td', {class: 'n'}, s.missed), h('td', {}, s.catch_up)))),
    r.schedules.length ? null : h('p', {id: 'schedules-empty', class: 'muted'}, 'No schedules.')];
}

// ---- routing and polling ----

function route() {
  const parts = location.hash.replace(/^#\/?/, '').replace(/\?.*$/, '').split('/');
  const arg = decodeURIComponent(parts.slice(1).join('/'));
  switch (parts[0]) {
    case 'workers': return ['workers', workersPage];
    case 'batches': return ['batches', batchesPage];
    case 'batch': return ['batches', () => batchPage(arg)];
    case 'task': return ['', () => taskPage(arg)];
    case 'dead': return ['dead', deadPage];
    case 'schedules': return ['schedules', schedulesPage];
    case 'tasks': case 'tasks?': return ['tasks', tasksPage, true];
    default: return ['overview', overviewPage];
  }
}

async function refresh() {
  clearTimeout(timer);
  const mine = generation;
  const [name, page, still] = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  try {
    const nodes = await page();
    if (mine !== generation) return;
    const target = document.getElementById('page');
    const scroll = window.scrollY;
    target.replaceChildren(...nodes.flat().filter((n) => n));
    window.scrollTo(0, scroll);
    document.body.dataset.loaded = name || 'task';
  } catch (e) {
    if (mine === generation) say(e.message);
  }
  if (mine === generation && !still) timer = setTimeout(refresh, POLL_MS);
}

async function showAccess() {
  const s = document.getElementById('token-state');
  try {
    const a = await api('/api/access');
    s.textContent = a.token === 'admin' ? 'admin' : a.token === 'read' ? 'read token'
                  : a.token === 'wrong' ? 'wrong token' : (a.reads_need_token ? 'no token' : 'read');
    s.className = a.token === 'admin' ? 'admin' : '';
    s.title = a.admin_enabled ? 'retry, purge and cancel need the admin token' : 'the broker is read-only';
  } catch (e) {
    s.textContent = '?';
  }
}

document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = document.getElementById('token-input');
  if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = '';
  showAccess();
  refresh();
});
document.getElementById('token-forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showAccess();
  refresh();
});
window.addEventListener('hashchange', () => { generation++; say(''); refresh(); });
showAccess();
refresh();
