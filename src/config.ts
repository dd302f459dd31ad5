// The configuration schema: every option, its default, and the checks that turn a typo into an
// INVALID_CONFIG error naming the key, before any process is started.
import os from 'node:os';
import path from 'node:path';
import type { InspectionEvent, Observer as XstateObserver } from 'xstate';
// zod's v3 API (a permanent subpath of zod 4): zod 4's own entry loads its 64 locales at
// import, ≈ 45 ms of this package's import time; the v3 entry is ten modules.
import { z } from 'zod/v3';
import { ADAPTER_PATH } from './adapterPath.js';
import { InvalidConfigError } from './errors.js';
import { stderrLogger, type WorkerLogger } from './workerLog.js';

/** The variables that size native thread pools of NumPy, MKL, OpenMP, NumExpr and Accelerate. */
export const THREAD_ENV_VARS = [
  'OPENBLAS_NUM_THREADS',
  'MKL_NUM_THREADS',
  'OMP_NUM_THREADS',
  'NUMEXPR_NUM_THREADS',
  'VECLIB_MAXIMUM_THREADS',
] as const;

/**
 * What the thread profile sets THREAD_ENV_VARS to: each worker's share of the cores
 * (`cores / poolSize`, rounded down), at most threadsPerWorker and at least 1, so that no call's
 * native thread pool has more threads than the machine has cores. The process profile sets 1.
 */
export function nativeThreads(threadsPerWorker: number, poolSize: number, cores: number): number {
  return Math.max(1, Math.min(threadsPerWorker, Math.floor(cores / poolSize)));
}

/** The longest delay a Node timer can hold (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
export const MAX_POOL_SIZE = 1024;
/**
 * Process workers hold this many calls beyond the running one by default: the next call is
 * already there when one ends, instead of a round trip later (see "Prefetch" in the README).
 */
export const DEFAULT_PREFETCH = 2;
export const MAX_PREFETCH = 64;
/**
 * An idle process worker on the local lane polls its socket at most this long for the next call
 * before it sleeps, while calls come closer together than that and polling has been the quicker
 * way to wait (see "Idle polling" in the README).
 */
export const DEFAULT_IDLE_POLL_MICROS = 100;
export const MAX_IDLE_POLL_MICROS = 10_000;
export const MAX_SESSIONS = 10_000_000;
/**
 * A crashed worker waits this long before it is started again: half a cold start here, so a
 * `kill -9` is repaired within about 1.5 cold starts while a worker that crashes at boot still
 * reaches its restart intensity at a measured pace, not in a spin.
 */
export const DEFAULT_BACKOFF_MS = 25;
/** Chunks a stream's generator may run ahead of its consumer, unless the call says otherwise. */
export const DEFAULT_HIGH_WATER_MARK = 64;
export const MAX_HIGH_WATER_MARK = 1_000_000;
/** A call its caller gave up on may run this long before its worker is replaced (`stuck_call`). */
export const DEFAULT_CANCEL_GRACE_MS = 5000;
/** How long a call made inside an exposed function may wait in a queue (see callChains.ts). */
export const DEFAULT_NESTED_QUEUE_TIMEOUT_MS = 10_000;
export const MAX_THREADS_PER_WORKER = 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/** A remote pool asks for its endpoints again this often (a DNS name, a function). */
export const DEFAULT_RESOLVE_INTERVAL_MS = 5000;

/** Where a remote pool's bridge servers are: `dns:///name:port`, `host:port`s, or a function that says. */
export type EndpointSource = string | string[] | (() => string[] | Promise<string[]>);

/** TLS towards bridge servers: PEM text or Buffers. */
export interface RemoteTls {
  /** The CA that signed the servers' certificates (else the system's CAs). */
  ca?: string | Buffer;
  /** With `key`: this client's certificate, for servers started with --tls-client-ca. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the servers' certificates carry, when it is not the address dialled (a dns:/// endpoint's name by default). */
  servername?: string;
}

/** An xstate inspection observer, as `createActor(logic, { inspect })` takes it (with its next()). */
export type InspectionObserver = ((event: InspectionEvent) => void) | (XstateObserver<InspectionEvent> & { next: (event: InspectionEvent) => void });

/**
 * The `inspect` option: an inspection observer, or an inspector that has one, such as
 * `createWebSocketInspector()` or `createSkyInspector()` of @statelyai/inspect.
 */
export type InspectOption = InspectionObserver | { inspect: XstateObserver<InspectionEvent> | ((event: InspectionEvent) => void); stop?: () => void };

/**
 * The schemas, built on first use rather than at import: building them is a tenth of the
 * package's import time.
 */
function buildSchemas() {
  const positiveInt = z.number().int().positive();
  const nonNegativeInt = z.number().int().nonnegative();

  const tooLong = `at most ${MAX_DURATION_MS} ms (about 24.8 days), the longest a timer can wait`;
  /** A duration in ms that a timer can really wait. */
  const duration = positiveInt.max(MAX_DURATION_MS, tooLong);
  const delay = nonNegativeInt.max(MAX_DURATION_MS, tooLong);

  const MAX_MESSAGE_BYTES_LIMIT = 1024 * 1024 * 1024;

  const strategy = z.enum(['one_for_one', 'one_for_all', 'rest_for_one']);

  const envPairs = z
    .array(z.tuple([z.string(), z.string()]))
    .transform((pairs) => Object.fromEntries(pairs));
  const envObject = z.record(z.string(), z.string());
  const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);
  const tlsSchema = z
    .object({ ca: pem.optional(), cert: pem.optional(), key: pem.optional(), servername: z.string().min(1).optional() })
    .strict()
    .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), 'give cert and key together (mutual TLS), or neither');
  const endpointText = z.string().regex(/^(dns:(\/\/\/)?)?[^\s/]+:\d{1,5}$/, 'expected "host:port" or "dns:///name:port"');
  const endpointsSchema = z.union([
    endpointText,
    z.array(endpointText).min(1, 'list at least one "host:port"'),
    z.custom<() => string[] | Promise<string[]>>((value) => typeof value === 'function', 'expected a function returning "host:port" strings'),
  ]);

  /**
   * On by default: a frozen worker (SIGSTOP, a deadlock in native code) is killed and its calls
   * fail WORKER_CRASHED about pingIntervalMs × maxMissedHeartbeats + timeoutMs (16 s) after the
   * freeze at most. Heartbeats
   * are answered on a thread of their own, so a long CPU-bound call does not miss them.
   */
  const HEARTBEAT_DEFAULTS = { enabled: true, pingIntervalMs: 2000, timeoutMs: 10_000, maxMissedHeartbeats: 3 };
  const heartbeatSchema = z
    .object({
      enabled: z.boolean().default(HEARTBEAT_DEFAULTS.enabled),
      pingIntervalMs: duration.default(HEARTBEAT_DEFAULTS.pingIntervalMs),
      timeoutMs: duration.default(HEARTBEAT_DEFAULTS.timeoutMs),
      maxMissedHeartbeats: positiveInt.max(1000).default(HEARTBEAT_DEFAULTS.maxMissedHeartbeats),
    })
    .strict();

  const restartSchema = z
    .object({
      strategy: strategy.default('one_for_one'),
      intensity: nonNegativeInt.default(3),
      periodMs: duration.default(5000),
      type: z.enum(['permanent', 'transient', 'temporary']).default('permanent'),
      backoffMs: delay.default(DEFAULT_BACKOFF_MS),
    })
    .strict();

  const poolSchema = z
    .object({
      name: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, "_", "." or "-"'),
      workerProfile: z.enum(['process', 'thread', 'remote']).default('process'),
      endpoints: endpointsSchema.optional(),
      tls: z.union([z.literal(false), tlsSchema]).optional(),
      token: z.string().min(1).optional(),
      resolveIntervalMs: duration.default(DEFAULT_RESOLVE_INTERVAL_MS),
      transport: z.enum(['grpc', 'local']).default('local'),
      poolSize: positiveInt.max(MAX_POOL_SIZE, `at most ${MAX_POOL_SIZE} workers per pool`).optional(),
      threadsPerWorker: positiveInt.max(MAX_THREADS_PER_WORKER, `at most ${MAX_THREADS_PER_WORKER} threads per worker`).optional(),
      prefetch: nonNegativeInt.max(MAX_PREFETCH, `at most ${MAX_PREFETCH} calls sent ahead`).optional(),
      idlePollMicros: nonNegativeInt.max(MAX_IDLE_POLL_MICROS, `at most ${MAX_IDLE_POLL_MICROS} µs`).optional(),
      affinity: z.enum(['hint', 'strict']).default('hint'),
      sessionTtlMs: duration.default(30 * 60 * 1000),
      maxSessions: positiveInt.max(MAX_SESSIONS, `at most ${MAX_SESSIONS} sessions per pool`).default(10_000),
      cancelGraceMs: duration.default(DEFAULT_CANCEL_GRACE_MS),
      adapter: z.string().regex(ADAPTER_PATH, 'expected a dotted path "module.Class"').optional(),
      adapterArgs: z.array(z.string()).optional(),
      adapterEnv: z.union([envObject, envPairs]).default({}),
      startupBatchSize: positiveInt.default(8),
      startupBatchDelayMs: delay.default(250),
      startupTimeoutMs: duration.default(30_000),
      heartbeat: heartbeatSchema.default(HEARTBEAT_DEFAULTS),
      threadSafetyChecks: z.boolean().default(false),
      preload: z.boolean().default(false),
      workerTtlMs: duration.optional(),
      workerMaxRequests: positiveInt.optional(),
      workerMaxMemoryMb: positiveInt.optional(),
      workerRecycleJitter: z.number().min(0).max(1).default(0),
      maxQueue: nonNegativeInt.default(10_000),
      queueTimeoutMs: duration.default(60_000),
      nestedQueueTimeoutMs: duration.default(DEFAULT_NESTED_QUEUE_TIMEOUT_MS),
      requestTimeoutMs: duration.optional(),
      maxArgumentDepth: positiveInt.max(1000, 'at most 1000: Python cannot decode deeper values').default(128),
      maxMessageBytes: positiveInt.max(MAX_MESSAGE_BYTES_LIMIT, `at most ${MAX_MESSAGE_BYTES_LIMIT} (1 GiB)`).default(DEFAULT_MAX_MESSAGE_BYTES),
      restart: restartSchema.default({ strategy: 'one_for_one', intensity: 3, periodMs: 5000, type: 'permanent', backoffMs: DEFAULT_BACKOFF_MS }),
    })
    .strict();

  const configSchema = z
    .object({
      python: z
        .object({
          executable: z.string().min(1).optional(),
          pythonPath: z.array(z.string()).default([]),
          env: envObject.default({}),
        })
        .strict()
        .default({ pythonPath: [], env: {} }),
      supervisor: z
        .object({
          strategy: strategy.default('one_for_one'),
          intensity: nonNegativeInt.default(3),
          periodMs: duration.default(5000),
        })
        .strict()
        .default({ strategy: 'one_for_one', intensity: 3, periodMs: 5000 }),
      // Checked by resolveInspection (observe/inspectorOption.ts), whose message says what it takes.
      inspect: z.custom<InspectOption>().optional(),
      logger: z
        .custom<WorkerLogger | false>((value) => value === false || typeof value === 'function', 'expected a function ({ pool, workerId, pid, stream, line }) => void, or false')
        .default(() => stderrLogger),
      shutdownGraceMs: delay.default(2000),
      instanceId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'use 1 to 64 letters, digits, "_" or "-"').optional(),
      pools: z.array(poolSchema).min(1, 'configure at least one pool'),
    })
    .strict();
  return { config: configSchema, pool: poolSchema, strategy };
}

type Schemas = ReturnType<typeof buildSchemas>;
let schemas: Schemas | undefined;

export type SnakepitConfig = z.input<Schemas['config']>;
export type PoolConfigInput = z.input<Schemas['pool']>;
type ParsedPool = z.output<Schemas['pool']>;

/** A pool's configuration after defaults and profile rules are applied. */
export interface PoolConfig extends Omit<ParsedPool, 'adapter' | 'adapterArgs' | 'poolSize' | 'threadsPerWorker' | 'adapterEnv' | 'prefetch' | 'idlePollMicros' | 'endpoints'> {
  /** Remote pools only. */
  endpoints?: EndpointSource;
  adapter: string;
  poolSize: number;
  threadsPerWorker: number;
  /** Calls a process worker holds beyond the running one; 0 for thread workers. */
  prefetch: number;
  /** µs an idle process worker on the local lane polls for its next call; 0 otherwise. */
  idlePollMicros: number;
  /** adapterEnv over the profile's thread-variable defaults. */
  env: Record<string, string>;
}

export interface ResolvedConfig {
  python: { executable?: string; pythonPath: string[]; env: Record<string, string> };
  supervisor: { strategy: z.output<Schemas['strategy']>; intensity: number; periodMs: number };
  inspect?: unknown;
  /** Worker output besides `worker:log`; false: only the event. */
  logger: WorkerLogger | false;
  shutdownGraceMs: number;
  instanceId?: string;
  pools: PoolConfig[];
}

export function resolveConfig(input: unknown): ResolvedConfig {
  const parsed = (schemas ??= buildSchemas()).config.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
    throw invalid(issues);
  }
  const config = parsed.data;
  const issues: { path: string; message: string }[] = [];
  const seen = new Set<string>();
  const pools = config.pools.map((pool, index) => {
    const at = (key: string) => `pools[${index}].${key}`;
    if (seen.has(pool.name)) issues.push({ path: at('name'), message: `duplicate pool name "${pool.name}"` });
    seen.add(pool.name);
    return resolvePool(pool, at, issues);
  });
  if (issues.length > 0) throw invalid(issues);
  // Relative entries mean the working directory at construction, whatever the workers' cwd later.
  const pythonPath = config.python.pythonPath.map((entry) => path.resolve(entry));
  return { ...config, python: { ...config.python, pythonPath }, pools };
}

function resolvePool(pool: ParsedPool, at: (key: string) => string, issues: { path: string; message: string }[]): PoolConfig {
  if (pool.workerProfile === 'remote') return resolveRemotePool(pool, at, issues);
  for (const key of ['endpoints', 'tls', 'token'] as const) {
    if (pool[key] !== undefined) issues.push({ path: at(key), message: 'applies to workerProfile "remote" only' });
  }
  const { adapterArgs, adapterEnv, ...rest } = pool;
  const adapter = pool.adapter ?? adapterFromArgs(adapterArgs, at, issues);
  if (!adapter && !issues.some((i) => i.path.startsWith(at('adapterArgs')))) {
    issues.push({ path: at('adapter'), message: 'required: the adapter class as "module.Class" (or adapterArgs: ["--adapter", "module.Class"])' });
  }
  const thread = pool.workerProfile === 'thread';
  if (!thread && pool.threadsPerWorker !== undefined && pool.threadsPerWorker !== 1) {
    issues.push({ path: at('threadsPerWorker'), message: 'applies to workerProfile "thread" only; the process profile runs one call per process' });
  }
  if (thread && pool.prefetch) {
    issues.push({ path: at('prefetch'), message: 'applies to workerProfile "process" only; a thread worker takes calls while others run' });
  }
  const prefetch = thread ? 0 : (pool.prefetch ?? DEFAULT_PREFETCH);
  const polls = !thread && pool.transport === 'local';
  if (!polls && pool.idlePollMicros) {
    issues.push({ path: at('idlePollMicros'), message: 'applies to workerProfile "process" on transport "local" only' });
  }
  const idlePollMicros = polls ? (pool.idlePollMicros ?? DEFAULT_IDLE_POLL_MICROS) : 0;
  const threadsPerWorker = thread ? (pool.threadsPerWorker ?? 4) : 1;
  const poolSize = pool.poolSize ?? (thread ? 1 : os.availableParallelism());
  const profileThreads = String(thread ? nativeThreads(threadsPerWorker, poolSize, os.availableParallelism()) : 1);
  const env: Record<string, string> = {};
  for (const name of THREAD_ENV_VARS) env[name] = profileThreads;
  Object.assign(env, adapterEnv);
  return { ...rest, adapter: adapter ?? '', poolSize, threadsPerWorker, prefetch, idlePollMicros, env };
}

/**
 * A pool of bridge servers: the servers run their adapter and state their capacity, so only
 * where they are, how to trust them and the token are asked for.
 */
function resolveRemotePool(pool: ParsedPool, at: (key: string) => string, issues: { path: string; message: string }[]): PoolConfig {
  const { adapterArgs: _args, adapterEnv: _env, ...rest } = pool;
  const local = ['adapter', 'adapterArgs', 'poolSize', 'threadsPerWorker', 'prefetch', 'idlePollMicros', 'workerMaxMemoryMb'] as const;
  for (const key of local) {
    if (pool[key] !== undefined) issues.push({ path: at(key), message: 'does not apply to workerProfile "remote": each endpoint is one worker, and its server sets the rest' });
  }
  if (pool.preload) issues.push({ path: at('preload'), message: 'does not apply to workerProfile "remote": its servers load their adapter themselves' });
  if (pool.endpoints === undefined) issues.push({ path: at('endpoints'), message: 'required for workerProfile "remote": "dns:///name:port", ["host:port", …] or a function' });
  if (pool.token === undefined) issues.push({ path: at('token'), message: "required for workerProfile \"remote\": the bridge servers' token (their --token-file)" });
  if (pool.tls === undefined) {
    issues.push({ path: at('tls'), message: 'required for workerProfile "remote": { ca } to trust the servers (and cert, key for mutual TLS), or false for servers started with --insecure' });
  }
  return { ...rest, adapter: '', poolSize: 0, threadsPerWorker: 1, prefetch: 0, idlePollMicros: 0, env: {} };
}

function adapterFromArgs(args: string[] | undefined, at: (key: string) => string, issues: { path: string; message: string }[]) {
  if (!args) return undefined;
  const flag = args.indexOf('--adapter');
  const adapter = flag >= 0 ? args[flag + 1] : undefined;
  const rest = args.filter((_, i) => i !== flag && i !== flag + 1);
  if (!adapter || rest.length > 0) {
    issues.push({ path: at('adapterArgs'), message: 'only ["--adapter", "module.Class"] is understood here' });
  }
  return adapter;
}

function invalid(issues: { path: string; message: string }[]): InvalidConfigError {
  const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`);
  return new InvalidConfigError(`Invalid Snakepit configuration:\n${lines.join('\n')}`, issues);
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}
