// The dashboard page: one self-contained HTML document (no CDN, works offline). On connect it is
// sent the recent events, then the state; after that each event as it comes and the state every
// second and just after a worker changes state. Badges, load and the lit states of the worker
// machine come from one state snapshot; each worker's recent states from its worker:state events.
import { STATECHART_SCRIPT } from './statechart.js';

/** The tab's icon, served at /favicon.ico: a snake's S on green. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1a7f37"/><path d="M22 9.5c-2-2.5-11-2.5-11 2.5s11 3 11 8-9 5-11 2.5" fill="none" stroke="#fff" stroke-width="3.4" stroke-linecap="round"/></svg>`;

/** Lines the page keeps in its event list (the server replays at most MAX_HISTORY). */
const EVENT_LINES = 1000;

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Snakepit</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/svg+xml" href="favicon.ico">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2430; background: #f5f6f8; }
  body { margin: 0; padding: 16px 24px; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2.section { font-size: 16px; margin: 16px 0 8px; }
  #health { font-size: 13px; margin-bottom: 16px; }
  .ok { color: #1a7f37; } .bad { color: #c62828; }
  .pool, #machine, #events { background: #fff; border-radius: 8px; box-shadow: 0 1px 2px #0002; }
  .pool { padding: 12px 16px; margin-bottom: 16px; }
  .pool h2 { font-size: 16px; margin: 0 0 8px; }
  .pool .meta, .caption { font-size: 12px; color: #5b6472; margin-bottom: 8px; }
  .workers { display: flex; flex-wrap: wrap; gap: 8px; }
  .worker { border: 1px solid #d5d9e0; border-radius: 6px; padding: 8px 10px; min-width: 170px; font-size: 12px; }
  .worker .name { font-weight: 600; font-size: 13px; }
  .state { display: inline-block; padding: 1px 6px; border-radius: 4px; color: #fff; font-weight: 600; }
  .state-starting { background: #8a6d00; } .state-ready { background: #1a7f37; } .state-busy { background: #0b5cad; }
  .state-draining, .state-recycling { background: #7b3fb3; } .state-crashed { background: #c62828; } .state-stopped { background: #5b6472; }
  .history { color: #5b6472; margin-top: 4px; word-break: break-word; }
  #machine { padding: 8px 16px; overflow-x: auto; }
  .statechart { max-width: 100%; height: auto; font: 12px system-ui, sans-serif; }
  .statechart .node rect, .statechart .frame rect { fill: #fff; stroke: #8b95a5; stroke-width: 1.2; }
  .statechart .frame rect { fill: #f7f8fa; }
  .statechart .frame.lit > rect { stroke: #1d2430; stroke-width: 2; }
  .statechart .node rect.final { fill: none; }
  .statechart .state-name { text-anchor: middle; font-weight: 600; fill: #1d2430; }
  .statechart .frame-name { font-weight: 600; fill: #5b6472; }
  .statechart .state-workers { text-anchor: middle; font-size: 10.5px; fill: #fff; }
  .statechart .node.lit rect { fill: #0b5cad; stroke: #1d2430; stroke-width: 2; }
  .statechart .node.lit .state-name { fill: #fff; }
  .statechart .lit[data-state="starting"] rect { fill: #8a6d00; } .statechart .lit[data-state="ready"] rect { fill: #1a7f37; }
  .statechart .lit[data-state="draining"] rect, .statechart .lit[data-state="recycling"] rect { fill: #7b3fb3; }
  .statechart .lit[data-state="crashed"] rect { fill: #c62828; } .statechart .lit[data-state="stopped"] rect { fill: #5b6472; }
  .statechart .node.lit rect.final { fill: none; stroke: #fff; }
  .statechart .edge { fill: none; stroke: #8b95a5; stroke-width: 1.2; }
  .statechart .arrowhead, .statechart .initial { fill: #8b95a5; }
  .statechart .edge-label { text-anchor: middle; font-size: 10.5px; fill: #3d4656; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
  #events { padding: 8px 16px; font: 12px ui-monospace, monospace; max-height: 320px; overflow: auto; }
  #events div { padding: 2px 0; border-bottom: 1px solid #eef0f3; }
  #events .bad { color: #c62828; }
</style>
</head>
<body>
<h1>Snakepit</h1>
<div id="health">connecting…</div>
<div id="pools"></div>
<h2 class="section">Worker machine</h2>
<div id="machine"><div class="caption">drawn from the exported machine (machines/worker.json); each worker's current state lit</div></div>
<h2 class="section">Recent events</h2>
<div id="events"></div>
<script>
${STATECHART_SCRIPT}
  const workers = new Map(); // worker id -> its recent states, from worker:state events
  const HISTORY = 12;
  const EVENT_LINES = ${EVENT_LINES};
  const CALL_PACED = ['worker:busy', 'worker:idle'];
  const FAILURES = ['worker:crashed', 'pool:failed', 'supervisor:escalation', 'request:failed', 'worker:heartbeat-missed'];
  let last = null;
  let chart = null;

  function note(id, state) {
    const history = workers.get(id) || [];
    if (history[history.length - 1] !== state) history.push(state);
    if (history.length > HISTORY) history.shift();
    workers.set(id, history);
  }

  function text(tag, cls, content) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (content !== undefined) el.textContent = content;
    return el;
  }

  function render() {
    if (!last) return;
    const h = last.health;
    const health = document.getElementById('health');
    health.className = h.ready ? 'ok' : 'bad';
    health.textContent = (h.ready ? 'ready' : h.live ? 'not ready' : 'not live') + ' · updated ' + new Date(last.at).toLocaleTimeString();
    const pools = document.getElementById('pools');
    pools.replaceChildren();
    const byState = new Map();
    for (const pool of last.inspect.pools) {
      const stats = last.stats.find((s) => s.pool === pool.name) || {};
      const box = text('section', 'pool');
      box.dataset.pool = pool.name;
      box.append(text('h2', '', pool.name + ' — ' + pool.state));
      box.append(text('div', 'meta', pool.profile + ' profile · capacity ' + pool.capacity + ' · in flight ' + (stats.inFlight ?? 0) +
        ' · queued ' + (stats.queued ?? 0) + ' · calls ' + (stats.completed ?? 0) + ' ok / ' + (stats.failures ?? 0) + ' failed'));
      const fork = pool.preload;
      if (fork) box.append(text('div', 'meta preload', 'fork server ' + fork.state + ' · pid ' + (fork.pid ?? '—') + ' · restarts ' + fork.restarts + (fork.message ? ' · ' + fork.message : '')));
      const list = text('div', 'workers');
      for (const w of pool.workers) {
        // State and load from the same snapshot; the recent states from the events.
        const load = last.load[w.id];
        const history = workers.get(w.id) || [w.state];
        byState.set(w.state, (byState.get(w.state) || []).concat(w.id));
        const card = text('div', 'worker');
        card.dataset.worker = w.id;
        card.dataset.state = w.state;
        card.dataset.history = history.join(' ');
        card.append(text('div', 'name', w.id));
        card.append(text('span', 'state state-' + w.state, w.state));
        const ahead = load.ahead ? ' · ' + load.ahead + ' sent ahead' : '';
        card.append(text('div', 'load', 'pid ' + (w.pid ?? '—') + ' · running ' + load.running + '/' + load.capacity + ahead + ' · restarts ' + w.restarts));
        card.append(text('div', 'history', 'recent: ' + history.join(' → ')));
        list.append(card);
      }
      box.append(list);
      pools.append(box);
    }
    if (chart) chart.light(byState);
  }

  fetch('machines/worker.json').then((res) => res.json()).then((config) => {
    chart = drawStatechart(config);
    document.getElementById('machine').append(chart.svg);
    render();
  }, (error) => document.getElementById('machine').append(text('div', 'bad', 'the machine could not be loaded: ' + error)));

  const source = new EventSource('events');
  source.addEventListener('open', () => {
    // A (re)connection is sent the recent events again: start afresh.
    workers.clear();
    document.getElementById('events').replaceChildren();
  });
  source.addEventListener('state', (e) => {
    last = JSON.parse(e.data);
    render();
  });
  source.addEventListener('lifecycle', (e) => {
    const event = JSON.parse(e.data);
    if (event.name === 'worker:state') {
      note(event.workerId, event.to);
      render();
      return;
    }
    if (CALL_PACED.includes(event.name)) return; // worker:state shows the same, in each worker's recent states
    const exit = event.exitCode === null || event.exitCode === undefined ? '' : 'exit ' + event.exitCode;
    const line = text('div', FAILURES.includes(event.name) ? 'bad' : '', new Date(event.at).toLocaleTimeString() + '  ' + event.name + '  ' +
      [event.pool, event.workerId, event.level, event.reason, event.signal, exit, event.code].filter(Boolean).join(' '));
    line.dataset.name = event.name;
    const list = document.getElementById('events');
    list.prepend(line);
    while (list.childElementCount > EVENT_LINES) list.lastElementChild.remove();
  });
  source.onerror = () => {
    const health = document.getElementById('health');
    health.className = 'bad';
    health.textContent = 'disconnected; retrying…';
  };
</script>
</body>
</html>
`;
