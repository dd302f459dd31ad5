export { Snakepit } from './snakepit.js';
export {
  SnakepitError,
  ErrorCode,
  InvalidConfigError,
  PoolNotFoundError,
  PoolSaturatedError,
  QueueTimeoutError,
  CallChainError,
  TimeoutError,
  AbortedError,
  WorkerCrashedError,
  PythonError,
  ToolNotFoundError,
  InvalidArgumentError,
  StartupFailedError,
  ShuttingDownError,
  MaxRestartsExceededError,
  MessageTooLargeError,
  InvalidStateError,
} from './errors.js';
export { THREAD_ENV_VARS } from './config.js';

export type {
  SnakepitConfig,
  PoolConfigInput,
  PoolConfigInput as PoolConfig,
  EndpointSource,
  InspectOption,
  InspectionObserver,
  RemoteTls,
} from './config.js';
export type { BroadcastOptions, BroadcastResult, CallOptions, Progress, StreamOptions, WorkerInfo } from './calls/calls.js';
export type { ExposedFunction } from './calls/hostFunctions.js';
export type { ArrayData, ArrayDtype, NdArray } from './wire/codec.js';
export type {
  AnyTools,
  NdArrayArgument,
  ToolArgs,
  ToolCallOptions,
  ToolChunk,
  ToolResult,
  ToolSet,
  ToolSignature,
  ToolStreamOptions,
  ToolsView,
} from './calls/toolTypes.js';
export type { PreloadInfo, PreloadState, SnakepitEvents, SnakepitEventName } from './events.js';
export type { HealthReport, InspectSnapshot, SupervisorInfo } from './supervision/inspectView.js';
export type { StopOptions } from './snakepit.js';
export type { WorkerLogEntry, WorkerLogger } from './workerLog.js';
export type { PoolStats } from './observe/stats.js';
export type { WorkerStateName } from '../machines/worker.machine.js';
