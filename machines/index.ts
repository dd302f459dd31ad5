// `snakepit/machines`: the statecharts the runtime runs, for Stately's inspector and Studio, or
// to test against. Their actors and actions are named stand-ins here; the runtime provides the
// real ones (src/supervision/actors.ts). `supervisorMachine` is the root: it supervises the pools;
// a pool with `preload` supervises its fork server (`forkServerMachine`) beside its workers.
export { workerMachine } from './worker.machine.js';
export type { WorkerContext, WorkerEvent, WorkerStateName, RecycleReason, RetireReason, CrashReason } from './worker.machine.js';
export { poolMachine } from './pool.machine.js';
export type { PoolContext, PoolInput } from './pool.machine.js';
export { supervisorMachine } from './supervisor.machine.js';
export { forkServerMachine } from './forkServer.machine.js';
export type { ForkServerContext, ForkServerStateName } from './forkServer.machine.js';
export { machineConfig, mermaidDiagram } from './export.js';
