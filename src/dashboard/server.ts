// `snakepit/dashboard`: a small HTTP server over a running pit — a live page, its state as
// JSON, its events as server-sent events, a health check and the Prometheus metrics. It binds
// to 127.0.0.1 unless told otherwise and needs nothing beyond Node.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Snakepit } from '../snakepit.js';
import type { SnakepitEventName } from '../events.js';
import { DASHBOARD_PAGE } from './page.js';

export interface DashboardOptions {
  /** 0 (the default) picks a free port; `url` says which. */
  port?: number;
  host?: string;
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
  const { port = 0, host = '127.0.0.1' } = options;
  const streams = new Set<ServerResponse>();
  const send = (res: ServerResponse, event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data, plainErrors)}\n\n`);
  const broadcast = (event: string, data: unknown) => {
    for (const res of streams) send(res, event, data);
  };
  const listeners = FORWARDED.map((name) => [name, (payload: unknown) => broadcast('lifecycle', { name, ...(payload as object) })] as const);
  for (const [name, listener] of listeners) pit.on(name, listener as never);
  const ticker = setInterval(() => streams.size && broadcast('state', state(pit)), STATE_INTERVAL_MS);
  ticker.unref();

  const server = createServer((req, res) => {
    route(pit, req, res, (stream) => {
      streams.add(stream);
      send(stream, 'state', state(pit));
      req.on('close', () => streams.delete(stream));
    }).catch((error: unknown) => {
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
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function route(pit: Snakepit, req: IncomingMessage, res: ServerResponse, subscribe: (res: ServerResponse) => void): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
  if (req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET' }).end();
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
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /, /api/state, /events, /healthz or /metrics\n');
  }
}

function state(pit: Snakepit) {
  return { inspect: pit.inspect(), health: pit.health(), stats: pit.stats(), at: Date.now() };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body, plainErrors));
}

/** Errors in event payloads as their code and message (JSON.stringify would give `{}`). */
function plainErrors(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, code: (value as { code?: string }).code, message: value.message } : value;
}
