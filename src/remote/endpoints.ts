// Where a remote pool's bridge servers are, asked again every resolveIntervalMs: a `dns:///name:port`
// is looked up (a Kubernetes headless Service answers with one address per ready pod), a list is
// itself, a function is called. The pool hears each new answer and follows it.
import { lookup } from 'node:dns/promises';
import type { EndpointSource } from '../config.js';

const DNS_PREFIX = /^dns:(\/\/\/)?/;

/** The DNS name of a `dns:///name:port` source: the name servers' certificates carry. */
export function dnsName(source: EndpointSource): string | undefined {
  if (typeof source !== 'string' || !DNS_PREFIX.test(source)) return undefined;
  return splitHostPort(source.replace(DNS_PREFIX, '')).host;
}

/** The endpoints as `host:port` strings, sorted and without repeats. Throws if there are none. */
export async function resolveEndpoints(source: EndpointSource): Promise<string[]> {
  let endpoints: string[];
  if (typeof source === 'function') {
    const answer: unknown = await source();
    if (!Array.isArray(answer) || answer.some((e) => typeof e !== 'string' || !/^[^\s/]+:\d{1,5}$/.test(e))) {
      throw new Error(`the endpoints function must return "host:port" strings; it returned ${JSON.stringify(answer)?.slice(0, 200)}`);
    }
    endpoints = answer;
  } else if (Array.isArray(source)) {
    endpoints = source;
  } else if (DNS_PREFIX.test(source)) {
    const { host, port } = splitHostPort(source.replace(DNS_PREFIX, ''));
    const addresses = await lookup(host, { all: true });
    endpoints = addresses.map((a) => (a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`));
  } else {
    endpoints = [source];
  }
  const unique = [...new Set(endpoints)].sort();
  if (unique.length === 0) throw new Error('no endpoints resolved');
  return unique;
}

function splitHostPort(text: string): { host: string; port: string } {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at).replace(/^\[|\]$/g, ''), port: text.slice(at + 1) };
}

/**
 * Asks for the endpoints every `intervalMs` and hands on each answer (the pool also starts a
 * worker again for an endpoint whose server had drained away). A failed lookup keeps the last
 * answer: a DNS hiccup must not drop every server.
 */
export function watchEndpoints(
  source: EndpointSource,
  intervalMs: number,
  onAnswer: (endpoints: string[]) => void,
  onError: (error: Error) => void,
): () => void {
  let stopped = false;
  const tick = async () => {
    try {
      const endpoints = await resolveEndpoints(source);
      if (!stopped) onAnswer(endpoints);
    } catch (error) {
      if (!stopped) onError(error instanceof Error ? error : new Error(String(error)));
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
