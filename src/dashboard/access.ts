// Who may read the dashboard. A request must name this server in its Host header: a page on
// another site that rebinds its DNS name to this address (DNS rebinding) still sends its own
// name, and is refused. With a token, a request must also carry it: `Authorization: Bearer`
// (scrapers, curl), `?token=` (the first visit of the page), or the cookie that visit sets, so
// the page and its EventSource work without the token in every URL.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { InvalidConfigError } from '../errors.js';

export const TOKEN_COOKIE = 'snakepit_dashboard';

export class DashboardAccess {
  private readonly hosts: Set<string>;
  private readonly tokenDigest: Buffer | undefined;

  constructor(host: string, allowedHosts: string[] = [], readonly token?: string) {
    if (token !== undefined && (typeof token !== 'string' || token.length === 0)) {
      throw new InvalidConfigError('serveDashboard({ token }) needs a non-empty string.', [{ path: 'token', message: 'a non-empty string' }]);
    }
    if (!Array.isArray(allowedHosts) || !allowedHosts.every((name) => typeof name === 'string' && name.length > 0)) {
      throw new InvalidConfigError('serveDashboard({ allowedHosts }) needs an array of host names.', [{ path: 'allowedHosts', message: 'an array of host names' }]);
    }
    this.hosts = new Set([host, ...allowedHosts].map(normalHost));
    this.tokenDigest = token === undefined ? undefined : digest(token);
  }

  /**
   * Loopback names, IP addresses (a rebinding page cannot send one: its origin is its own name),
   * the configured host and `allowedHosts`.
   */
  hostAllowed(header: string | undefined): boolean {
    if (!header) return false;
    const name = normalHost(hostName(header));
    return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0 || this.hosts.has(name);
  }

  /** Whether the request carries the token (always, when there is none). */
  authorized(req: IncomingMessage, url: URL): boolean {
    if (!this.tokenDigest) return true;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    return [bearer, url.searchParams.get('token') ?? undefined, cookie(req, TOKEN_COOKIE)].some((given) => given !== undefined && this.matches(given));
  }

  /** Compared by digest, in constant time. */
  matches(given: string): boolean {
    return this.tokenDigest !== undefined && timingSafeEqual(digest(given), this.tokenDigest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The name in a Host header: without its port, and an IPv6 address without brackets. */
function hostName(header: string): string {
  if (header.startsWith('[')) return header.slice(1, header.indexOf(']'));
  const colon = header.lastIndexOf(':');
  return colon >= 0 && header.indexOf(':') === colon ? header.slice(0, colon) : header;
}

function normalHost(name: string): string {
  const lower = name.toLowerCase().replace(/^\[|\]$/g, '');
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(value.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}
