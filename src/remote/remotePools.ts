// The remote pools' side of an instance: where each pool's bridge servers are (resolved at
// start, then followed as the answer changes) and the TLS material to reach them.
import type { PoolConfig } from '../config.js';
import { dnsName, resolveEndpoints, watchEndpoints } from './endpoints.js';
import { StartupFailedError } from '../errors.js';
import type { ChannelSecurity } from '../wire/grpcConnection.js';

export interface EndpointListener {
  /** A pool's new answer, whether or not it changed (the pool machine compares). */
  endpoints(pool: string, endpoints: string[], changed: boolean): void;
  /** Asking again failed; the pool keeps its last answer. */
  failed(pool: string, last: string[], error: Error): void;
}

export class RemotePools {
  private readonly security = new Map<string, ChannelSecurity | undefined>();
  private readonly watches: (() => void)[] = [];

  constructor(private readonly pools: PoolConfig[]) {}

  /** Each remote pool's endpoints now; a pool whose endpoints cannot be resolved fails start-up. */
  async resolve(): Promise<Map<string, string[]>> {
    const resolved = new Map<string, string[]>();
    for (const pool of this.pools) {
      if (pool.workerProfile !== 'remote') continue;
      try {
        resolved.set(pool.name, await within(resolveEndpoints(pool.endpoints!), pool.startupTimeoutMs));
      } catch (error) {
        throw new StartupFailedError(`Pool "${pool.name}": its endpoints cannot be resolved (${(error as Error).message}).`, { pool: pool.name });
      }
      const tls = pool.tls;
      const servername = tls ? (tls.servername ?? dnsName(pool.endpoints!)) : undefined;
      this.security.set(pool.name, tls ? { ca: pem(tls.ca), cert: pem(tls.cert), key: pem(tls.key), servername } : undefined);
    }
    return resolved;
  }

  /** How to reach a remote pool's servers: undefined for plaintext (`tls: false`). */
  securityOf(pool: string): ChannelSecurity | undefined {
    return this.security.get(pool);
  }

  /** Remote pools follow their endpoints as they change (pods come and go), until stop(). */
  follow(initial: Map<string, string[]>, listener: EndpointListener): void {
    for (const [name, first] of initial) {
      const pool = this.pools.find((p) => p.name === name)!;
      let last = first;
      const stop = watchEndpoints(
        pool.endpoints!,
        pool.resolveIntervalMs,
        (endpoints) => {
          const changed = endpoints.join() !== last.join();
          last = endpoints;
          listener.endpoints(name, endpoints, changed);
        },
        (error) => listener.failed(name, last, error),
      );
      this.watches.push(stop);
    }
  }

  stop(): void {
    for (const stop of this.watches.splice(0)) stop();
  }
}

/** `work`'s answer, or an error once `ms` have passed: an endpoints function that never answers must not hold start() forever. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms, the pool's startupTimeoutMs`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function pem(value: string | Buffer | undefined): Buffer | undefined {
  return value === undefined ? undefined : Buffer.isBuffer(value) ? value : Buffer.from(value);
}
