// The lifecycle events Snakepit emits, with their payloads. Names are part of the public contract.
import type { ForkServerStateName } from '../machines/forkServer.machine.js';
import type { WorkerStateName } from '../machines/worker.machine.js';

interface PoolEventBase {
  pool: string;
  at: number;
}

/**
 * A pool's fork server (`preload`): starting → ready; ready → restarting (it died) → starting;
 * refused (threads at import), failed (given up) and stopped stay, and the first two mean the
 * pool spawns its workers (machines/forkServer.machine.ts).
 */
export type PreloadState = ForkServerStateName;

export interface PreloadInfo {
  state: PreloadState;
  /** The fork server's pid, while one runs. */
  pid: number | undefined;
  restarts: number;
  /** Why it was refused or given up. */
  message?: string;
}

export interface WorkerEventBase extends PoolEventBase {
  workerId: string;
  pid: number | undefined;
}

export interface SnakepitEvents {
  'pool:starting': (e: PoolEventBase & { poolSize: number; capacity: number }) => void;
  'pool:batch': (e: PoolEventBase & { batch: number; batches: number; workerIds: string[] }) => void;
  'pool:ready': (e: PoolEventBase & { workers: number; capacity: number; startupMs: number }) => void;
  'pool:failed': (e: PoolEventBase & { reason: string; error: Error }) => void;
  /** A remote pool's endpoints changed (its workers follow), or looking them up failed (`error`; the last ones stay). */
  'pool:endpoints': (e: PoolEventBase & { endpoints: string[]; error?: string }) => void;
  /** A pool's preloading fork server changed state (`preload`). */
  'pool:preload': (e: PoolEventBase & PreloadInfo) => void;
  'worker:starting': (e: WorkerEventBase & { restarts: number }) => void;
  'worker:ready': (e: WorkerEventBase & { startupMs: number; gilEnabled: boolean | undefined }) => void;
  'worker:busy': (e: WorkerEventBase & { inFlight: number }) => void;
  'worker:idle': (e: WorkerEventBase) => void;
  'worker:draining': (e: WorkerEventBase & { reason: string }) => void;
  'worker:recycling': (e: WorkerEventBase & { reason: string }) => void;
  'worker:crashed': (e: WorkerEventBase & { exitCode: number | null; signal: string | null; reason: string }) => void;
  'worker:restarted': (e: WorkerEventBase & { restarts: number }) => void;
  'worker:stopped': (e: WorkerEventBase) => void;
  'worker:state': (e: WorkerEventBase & { from: WorkerStateName | undefined; to: WorkerStateName }) => void;
  'worker:heartbeat-missed': (e: WorkerEventBase & { missed: number; error: string }) => void;
  'worker:thread-safety-warning': (
    e: WorkerEventBase & { kind: string; tool?: string; library?: string; threadIds: number[]; message: string },
  ) => void;
  'worker:log': (e: WorkerEventBase & { stream: 'stdout' | 'stderr'; line: string }) => void;
  /** level pool: a pool restarts a worker; level root: the root restarts a pool. */
  'supervisor:restart': (
    e: PoolEventBase & { level: 'pool' | 'root'; workerId?: string; pid?: number; strategy: string; restartsInWindow: number },
  ) => void;
  /** level pool: a pool gave up and its parent decides; level root: everything stopped. */
  'supervisor:escalation': (e: PoolEventBase & { level: 'pool' | 'root'; reason: string; error: Error }) => void;
  /** A session's worker is gone (crashed, recycled, stopped): its calls now run on another. */
  'session:moved': (e: PoolEventBase & { sessionId: string; fromWorkerId: string; toWorkerId: string }) => void;
  'request:queued': (e: PoolEventBase & { tool: string; queueLength: number }) => void;
  'request:started': (e: WorkerEventBase & { tool: string; waitedMs: number }) => void;
  /** `durationMs` from submit to settle (queue wait included), `runMs` on the worker. */
  'request:completed': (e: WorkerEventBase & { tool: string; durationMs: number; runMs: number }) => void;
  'request:failed': (e: PoolEventBase & { tool: string; code: string; error: Error; workerId?: string }) => void;
  /** A running tool's ctx.progress() report; `total` and `message` are null when not given. */
  'request:progress': (e: PoolEventBase & { tool: string; workerId?: string; done: number; total: number | null; message: string | null }) => void;
}

export type SnakepitEventName = keyof SnakepitEvents;
