// `snakepit/dashboard`: a small HTTP server over a running pit — a live page, its state as
// JSON, its events as server-sent events, a health check and the Prometheus metrics. It binds
// to 127.0.0.1 unless told otherwise, answers only requests that name it in their Host header,
// can require a token, and needs nothing beyond Node.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Snakepit } from '../snakepit.js';
import type { SnakepitEventName } from '../events.js';
import { DashboardAccess, TOKEN_COOKIE } from './access.js';
import { encodeEvent, EventStreams, plainErrors } from './eventStreams.js';
import { DASHBOARD_PAGE } from './page.js';

export interface DashboardOptions {
  /** 0 (the default) picks a free port; `url` says which. */
  port?: number;
  host?: string;
  /** Required of every request but /healthz: `Authorization: Bearer`, `?token=`, or the cookie the page sets. */
  token?: string;
  /** Host names besides loopback names, IP addresses and `host` that requests may use (e.g. behind a proxy). */
  allowedHosts?: string[];
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

/** How often the page is sent the whole state (load, queue) besides the events. */
const STATE_INTERVAL_MS = 1000;

export async function serveDashboard(pit: Snakepit, options: DashboardOptions = {}): Promise<Dashboard> {
  const { port = 0, host = '127.0.0.1', token, allowedHosts } = options;
  const access = new DashboardAccess(host, allowedHosts, token);
  const streams = new EventStreams();
  const listeners = FORWARDED.map((name) => [name, (payload: unknown) => streams.broadcast(encodeEvent('lifecycle', { name, ...(payload as object) }))] as const);
  for (const [name, listener] of listeners) pit.on(name, listener as never);
  const ticker = setInterval(() => streams.size && streams.broadcast(encodeEvent('state', state(pit))), STATE_INTERVAL_MS);
  ticker.unref();

  const server = createServer((req, res) => {
    route(pit, access, req, res, (stream) => streams.add(stream, encodeEvent('state', state(pit)))).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`dashboard error: ${String(error)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: async () => {
      clearInterval(ticker);
      for (const [name, listener] of listeners) pit.off(name, listener as never);
      streams.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function route(pit: Snakepit, access: DashboardAccess, req: IncomingMessage, res: ServerResponse, subscribe: (res: ServerResponse) => void): Promise<void> {
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
  // Health stays open to probes; everything else shows the pools and needs the token, if any.
  if (path !== '/healthz' && !access.authorized(req, url)) {
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
      json(res, 200, state(pit));
      return;
    case '/events':
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      subscribe(res);
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
      text(res, 404, 'not found: try /, /api/state, /events, /healthz or /metrics\n');
  }
}

/** What the page draws: the pools' structure, health and counters — no configuration, no environment. */
function state(pit: Snakepit) {
  return { inspect: pit.inspect(), health: pit.health(), stats: pit.stats(), at: Date.now() };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body, plainErrors));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
}
