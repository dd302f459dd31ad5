// The dashboard page: one self-contained HTML document (no CDN, works offline). It draws the
// state it is sent every second and applies each worker:state event as it comes, so a worker
// going busy → ready or crashed → ready shows at once; each worker keeps its recent states.
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Snakepit</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2430; background: #f5f6f8; }
  body { margin: 0; padding: 16px 24px; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #health { font-size: 13px; margin-bottom: 16px; }
  .ok { color: #1a7f37; } .bad { color: #c62828; }
  .pool { background: #fff; border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; box-shadow: 0 1px 2px #0002; }
  .pool h2 { font-size: 16px; margin: 0 0 8px; }
  .pool .meta { font-size: 12px; color: #5b6472; margin-bottom: 8px; }
  .workers { display: flex; flex-wrap: wrap; gap: 8px; }
  .worker { border: 1px solid #d5d9e0; border-radius: 6px; padding: 8px 10px; min-width: 170px; font-size: 12px; }
  .worker .name { font-weight: 600; font-size: 13px; }
  .state { display: inline-block; padding: 1px 6px; border-radius: 4px; color: #fff; font-weight: 600; }
  .state-starting { background: #8a6d00; } .state-ready { background: #1a7f37; } .state-busy { background: #0b5cad; }
  .state-draining, .state-recycling { background: #7b3fb3; } .state-crashed { background: #c62828; } .state-stopped { background: #5b6472; }
  .history { color: #5b6472; margin-top: 4px; word-break: break-word; }
  #events { background: #fff; border-radius: 8px; padding: 8px 16px; box-shadow: 0 1px 2px #0002; font: 12px ui-monospace, monospace; max-height: 320px; overflow: auto; }
  #events div { padding: 2px 0; border-bottom: 1px solid #eef0f3; }
</style>
</head>
<body>
<h1>Snakepit</h1>
<div id="health">connecting…</div>
<div id="pools"></div>
<h2 style="font-size:16px">Recent events</h2>
<div id="events"></div>
<script>
  const workers = new Map(); // worker id -> { state, history: [state, …] }
  const HISTORY = 12;
  let last = null;

  function note(id, state) {
    const w = workers.get(id) || { state: null, history: [] };
    if (w.state !== state) {
      w.history.push(state);
      if (w.history.length > HISTORY) w.history.shift();
    }
    w.state = state;
    workers.set(id, w);
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
    for (const pool of last.inspect.pools) {
      const stats = last.stats.find((s) => s.pool === pool.name) || {};
      const box = text('section', 'pool');
      box.dataset.pool = pool.name;
      box.append(text('h2', '', pool.name + ' — ' + pool.state));
      box.append(text('div', 'meta', pool.profile + ' profile · capacity ' + pool.capacity + ' · in flight ' + (stats.inFlight ?? 0) +
        ' · queued ' + (stats.queued ?? 0) + ' · calls ' + (stats.completed ?? 0) + ' ok / ' + (stats.failures ?? 0) + ' failed'));
      const list = text('div', 'workers');
      for (const w of pool.workers) {
        const seen = workers.get(w.id);
        const state = seen ? seen.state : w.state;
        const card = text('div', 'worker');
        card.dataset.worker = w.id;
        card.dataset.state = state;
        card.dataset.history = seen ? seen.history.join(' ') : state;
        card.append(text('div', 'name', w.id));
        const badge = text('span', 'state state-' + state, state);
        card.append(badge);
        card.append(text('div', '', 'pid ' + (w.pid ?? '—') + ' · load ' + w.inFlight + '/' + w.capacity + ' · restarts ' + w.restarts));
        card.append(text('div', 'history', 'recent: ' + card.dataset.history.split(' ').join(' → ')));
        list.append(card);
      }
      box.append(list);
      pools.append(box);
    }
  }

  const source = new EventSource('events');
  source.addEventListener('state', (e) => {
    last = JSON.parse(e.data);
    for (const pool of last.inspect.pools) for (const w of pool.workers) if (!workers.has(w.id)) note(w.id, w.state);
    render();
  });
  source.addEventListener('lifecycle', (e) => {
    const event = JSON.parse(e.data);
    if (event.name === 'worker:state') {
      note(event.workerId, event.to);
      render();
    }
    if (event.name === 'worker:state') return;
    const line = text('div', '', new Date(event.at).toLocaleTimeString() + '  ' + event.name + '  ' +
      [event.pool, event.workerId, event.reason, event.code].filter(Boolean).join(' '));
    const list = document.getElementById('events');
    list.prepend(line);
    while (list.childElementCount > 50) list.lastElementChild.remove();
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
