// `snakepit/dashboard`: a small HTTP server over a running pit — a live page, its state as
// JSON, its events as server-sent events, a health check and the Prometheus metrics. It binds
// to 127.0.0.1 unless told otherwise, answers only requests that name it in their Host header,
// can require a token, and needs nothing beyond Node.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { machineConfig } from '../../machines/export.js';
import { workerMachine } from '../../machines/worker.machine.js';
import { InvalidConfigError } from '../errors.js';
import type { Snakepit } from '../snakepit.js';
import type { SnakepitEventName } from '../events.js';
import { DashboardAccess, TOKEN_COOKIE } from './access.js';
import { EventRing, historySize } from './eventHistory.js';
import { eventData, encodeEvent, EventStreams, plainErrors } from './eventStreams.js';
import { DASHBOARD_PAGE, FAVICON_SVG } from './page.js';

export interface DashboardOptions {
  /** 0 (the default) picks a free port; `url` says which. */
  port?: number;
  host?: string;
  /** Required of every request but /healthz: `Authorization: Bearer`, `?token=`, or the cookie the page sets. */
  token?: string;
  /** Host names besides loopback names, IP addresses and `host` that requests may use (e.g. behind a proxy). */
  allowedHosts?: string[];
  /**
   * Events a page is sent when it connects, the last ones (default 200, at most 1000; 0: none),
   * and as many of the last worker state changes; each kind holds at most 64 KiB.
   */
  history?: number;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

/** The events the page shows. Per-call events other than failures and worker output are left
 *  out: at thousands of calls a second they would flood the page; load comes with `state`. */
const FORWARDED: SnakepitEventName[] = [
  'pool:starting', 'pool:batch', 'pool:ready', 'pool:failed',
  'worker:starting', 'worker:ready', 'worker:busy', 'worker:idle', 'worker:draining', 'worker:recycling',
  'worker:crashed', 'worker:restarted', 'worker:stopped', 'worker:state', 'worker:heartbeat-missed',
  'supervisor:restart', 'supervisor:escalation', 'session:moved', 'request:failed',
];

/** Sent live but not replayed: they come with calls, and worker:state has the same changes. */
const CALL_PACED: SnakepitEventName[] = ['worker:busy', 'worker:idle'];

/** How often the page is sent the whole state (load, queue) besides the events. */
const STATE_INTERVAL_MS = 1000;
/** After a worker changes state, the page is sent the state this soon (once for a burst of changes). */
const STATE_AFTER_CHANGE_MS = 100;

/** The worker machine as machines/worker.json holds it (`npm run machines:export` writes that file from the same function). */
const WORKER_MACHINE_JSON = JSON.stringify(machineConfig(workerMachine));

export async function serveDashboard(pit: Snakepit, options: DashboardOptions = {}): Promise<Dashboard> {
  const { port = 0, host = '127.0.0.1', token, allowedHosts } = options;
  const access = new DashboardAccess(host, allowedHosts, token);
  const size = historySize(options.history);
  // State changes come with calls (ready ⇄ busy), so they have their own ring: they cannot push a crash out.
  const history = { events: new EventRing(size), states: new EventRing(size) };
  const ringOf = (name: SnakepitEventName) => (name === 'worker:state' ? history.states : CALL_PACED.includes(name) ? undefined : history.events);
  const streams = new EventStreams();
  const sendState = () => streams.size && streams.broadcast(encodeEvent('state', state(pit)));
  let stateSoon: NodeJS.Timeout | undefined;
  const listeners = FORWARDED.map((name) => [name, (payload: unknown) => {
    const message = encodeEvent('lifecycle', { name, ...(payload as object) });
    ringOf(name)?.push(message);
    streams.broadcast(message);
    if (name === 'worker:state' && !stateSoon && streams.size) {
      stateSoon = setTimeout(() => ((stateSoon = undefined), sendState()), STATE_AFTER_CHANGE_MS);
      stateSoon.unref();
    }
  }] as const);
  for (const [name, listener] of listeners) pit.on(name, listener as never);
  const ticker = setInterval(sendState, STATE_INTERVAL_MS);
  ticker.unref();
  // A page that connects: the recent events, then the state they led to.
  const welcome = () => Buffer.concat([...history.states.messages(), ...history.events.messages(), encodeEvent('state', state(pit))]);
  const recentEvents = () => history.events.messages().map(eventData);

  const server = createServer((req, res) => {
    route(pit, access, req, res, { subscribe: (stream) => streams.add(stream, welcome), recentEvents }).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`dashboard error: ${String(error)}\n`);
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    // Nothing of a dashboard that never listened stays behind: not its timer, not its listeners on pit.
    clearInterval(ticker);
    for (const [name, listener] of listeners) pit.off(name, listener as never);
    throw new InvalidConfigError(`serveDashboard could not listen on ${host}:${port} (${(error as Error).message}); choose another port, or 0 for any free one.`, [
      { path: 'port', message: (error as NodeJS.ErrnoException).code ?? 'cannot listen' },
    ]);
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: async () => {
      clearInterval(ticker);
      clearTimeout(stateSoon);
      for (const [name, listener] of listeners) pit.off(name, listener as never);
      streams.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A client that sent nothing, or half a request, would otherwise hold close() open.
      server.closeAllConnections();
      await closed;
    },
  };
}

interface Feeds {
  subscribe(res: ServerResponse): void;
  recentEvents(): unknown[];
}

async function route(pit: Snakepit, access: DashboardAccess, req: IncomingMessage, res: ServerResponse, feeds: Feeds): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://dashboard');
  const path = url.pathname;
  if (!access.hostAllowed(req.headers.host)) {
    text(res, 403, `refused: the Host header ${JSON.stringify(req.headers.host ?? '')} is not this dashboard's (see serveDashboard's allowedHosts)\n`);
    return;
  }
  if (req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET' }).end();
    return;
  }
  // Health stays open to probes and the icon shows nothing; everything else shows the pools and needs the token, if any.
  if (path !== '/healthz' && path !== '/favicon.ico' && !access.authorized(req, url)) {
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="snakepit"' })
      .end('this dashboard needs its token: open /?token=… in a browser, or send Authorization: Bearer …\n');
    return;
  }
  const given = url.searchParams.get('token');
  if (path === '/' && given !== null && access.matches(given)) {
    // The page's first visit: keep the token in a cookie (sent by its EventSource too) and drop it from the address bar.
    res.writeHead(303, { location: './', 'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Lax; Path=/`, 'cache-control': 'no-store' }).end();
    return;
  }
  switch (path) {
    case '/':
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(DASHBOARD_PAGE);
      return;
    case '/api/state':
      json(res, 200, { ...state(pit), recentEvents: feeds.recentEvents() });
      return;
    case '/events':
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      feeds.subscribe(res);
      return;
    case '/machines/worker.json':
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(WORKER_MACHINE_JSON);
      return;
    case '/favicon.ico':
      res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=86400' }).end(FAVICON_SVG);
      return;
    case '/healthz': {
      const health = pit.health();
      const down = Object.entries(health.pools).filter(([, pool]) => !pool.ready).map(([name]) => name);
      const reason = health.ready ? 'ready' : !health.live ? 'not live: stopped, or the supervisor gave up' : down.length ? `not ready: ${down.join(', ')}` : 'starting';
      json(res, health.ready ? 200 : 503, { ...health, reason });
      return;
    }
    case '/metrics':
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(await pit.metrics());
      return;
    default:
      text(res, 404, 'not found: try /, /api/state, /events, /healthz, /metrics or /machines/worker.json\n');
  }
}

/**
 * What the page draws: the pools' structure, health and counters — no configuration, no
 * environment — and each worker's load from the same inspect() read as its state: `running`
 * calls of its `capacity`, and `ahead`, the calls sent ahead (prefetch) waiting in the worker.
 */
function state(pit: Snakepit) {
  const inspect = pit.inspect();
  const load: Record<string, { running: number; capacity: number; ahead: number }> = {};
  for (const pool of inspect.pools) {
    for (const w of pool.workers) load[w.id] = { running: Math.min(w.inFlight, w.capacity), capacity: w.capacity, ahead: Math.max(0, w.inFlight - w.capacity) };
  }
  return { inspect, health: pit.health(), stats: pit.stats(), load, at: Date.now() };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body, plainErrors));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
}
