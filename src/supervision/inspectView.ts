// What inspect() and health() show, read from each fact's owner: states, pids, restarts and
// supervision from the actors; load and capacity from the dispatchers, which count calls as
// they happen. Nothing here is kept: every call reads afresh.
import type { ActorSystem, AnyActorRef } from 'xstate';
import type { ForkServerContext, ForkServerStateName } from '../../machines/forkServer.machine.js';
import type { PoolContext } from '../../machines/pool.machine.js';
import type { SupervisorContext } from '../../machines/supervisor.machine.js';
import type { WorkerContext, WorkerStateName } from '../../machines/worker.machine.js';
import type { WorkerInfo } from '../calls/calls.js';
import type { PoolConfig, ResolvedConfig } from '../config.js';
import type { Dispatcher } from '../calls/dispatcher.js';
import type { PreloadInfo } from '../events.js';

export interface SupervisorInfo {
  strategy: string;
  intensity: number;
  periodMs: number;
  restartsInWindow: number;
  /** Children in start order: worker ids for a pool, pool names for the root. */
  children: string[];
}

export interface InspectSnapshot {
  /** The root supervisor over pools. */
  supervisor: SupervisorInfo;
  pools: {
    name: string;
    profile: 'process' | 'thread' | 'remote';
    capacity: number;
    state: string;
    /** The pool as the supervisor of its workers. */
    supervisor: SupervisorInfo;
    workers: WorkerInfo[];
    /** The pool's fork server, for a pool with `preload`. */
    preload?: PreloadInfo;
  }[];
}

/** For liveness and readiness probes. */
export interface HealthReport {
  /** Started or starting, and the root supervisor has not given up. */
  live: boolean;
  /** Running, and every pool is ready. */
  ready: boolean;
  pools: Record<string, {
    /** The pool actor is ready and at least one of its workers takes calls. */
    ready: boolean;
    capacity: number;
    /** Call places free right now. */
    available: number;
  }>;
}

/** Where the view reads from: the running actor system (if any) and the dispatchers. */
export interface ViewSource {
  system: ActorSystem<any> | undefined;
  rootContext: SupervisorContext | undefined;
  config: ResolvedConfig;
  dispatchers: Map<string, Dispatcher>;
  lifecycle: 'new' | 'starting' | 'running' | 'stopping' | 'stopped';
  rootFailed: boolean;
}

export function inspectSnapshot(source: ViewSource): InspectSnapshot {
  const root = source.rootContext;
  return {
    supervisor: supervisorInfo(source.config.supervisor, root?.restartWindow.length, root?.pools.map((p) => p.name)),
    pools: source.config.pools.map((pool) => {
      const dispatcher = source.dispatchers.get(pool.name)!;
      const preload = pool.preload ? forkServerInfo(source, pool.name) : undefined;
      return {
        name: pool.name,
        profile: pool.workerProfile,
        capacity: dispatcher.capacity,
        state: poolState(source, pool.name),
        supervisor: poolSupervisor(source, pool),
        workers: workerActors(source, pool.name).map((worker) => {
          const { context, value } = worker.getSnapshot() as { context: WorkerContext; value: unknown };
          const slot = dispatcher.slot(context.id);
          return {
            id: context.id,
            pid: context.pid,
            state: leafState(value),
            // Load is the dispatcher's: it counts calls synchronously; the machine hears it once per turn.
            inFlight: slot?.inFlight ?? 0,
            capacity: context.capacity,
            requests: slot?.requests ?? 0,
            restarts: context.restarts,
            gilEnabled: slot?.gilEnabled,
            ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
          };
        }),
        ...(preload ? { preload } : {}),
      };
    }),
  };
}

export function healthReport(source: ViewSource): HealthReport {
  const live = (source.lifecycle === 'starting' || source.lifecycle === 'running') && !source.rootFailed;
  const pools: HealthReport['pools'] = {};
  for (const [name, dispatcher] of source.dispatchers) {
    const ready = live && poolState(source, name) === 'ready' && dispatcher.routable > 0;
    pools[name] = { ready, capacity: dispatcher.capacity, available: ready ? dispatcher.available : 0 };
  }
  const ready = live && source.lifecycle === 'running' && Object.values(pools).every((pool) => pool.ready);
  return { live, ready, pools };
}

function poolContext(source: ViewSource, pool: string): PoolContext | undefined {
  return source.system?.get(`pool:${pool}`)?.getSnapshot().context as PoolContext | undefined;
}

/** The pool actor's worker actors, in start order. */
function workerActors(source: ViewSource, pool: string): AnyActorRef[] {
  return poolContext(source, pool)?.workers.map((w) => w.ref) ?? [];
}

/** The pool actor's own state (`starting`, `ready`, `failed`, `restarting`, `stopping`, …). */
function poolState(source: ViewSource, name: string): string {
  const value = source.system?.get(`pool:${name}`)?.getSnapshot().value as string | Record<string, unknown> | undefined;
  if (value === undefined) return source.lifecycle === 'new' ? 'new' : 'stopped';
  return typeof value === 'string' ? value : Object.keys(value)[0];
}

function poolSupervisor(source: ViewSource, pool: PoolConfig): SupervisorInfo {
  const context = poolContext(source, pool.name);
  return supervisorInfo(pool.restart, context?.restartWindow.length, context?.workers.map((w) => w.id));
}

function supervisorInfo(
  rules: { strategy: string; intensity: number; periodMs: number },
  restartsInWindow = 0,
  children: string[] = [],
): SupervisorInfo {
  const { strategy, intensity, periodMs } = rules;
  return { strategy, intensity, periodMs, restartsInWindow, children };
}

/** A pool's fork server, from its actor (`preload:<pool>`); before and after the actor, from the instance's lifecycle. */
function forkServerInfo(source: ViewSource, pool: string): PreloadInfo {
  const actor = source.system?.get(`preload:${pool}`);
  if (!actor) return { state: source.lifecycle === 'new' || source.lifecycle === 'starting' ? 'starting' : 'stopped', pid: undefined, restarts: 0 };
  const { context, value } = actor.getSnapshot() as { context: ForkServerContext; value: ForkServerStateName };
  return { state: value, pid: context.pid, restarts: context.restarts, ...(context.message === undefined ? {} : { message: context.message }) };
}

/** A worker's state name: the innermost of `{ alive: 'busy' }`. */
function leafState(value: unknown): WorkerStateName {
  return (typeof value === 'string' ? value : leafState(Object.values(value as Record<string, unknown>)[0])) as WorkerStateName;
}
