// Typed calls: the types `npx snakepit types` writes (one interface per adapter, a property per
// tool) and the view `pit.tools<Tools>({ pool })` whose execute/stream check arguments and type
// results by them. A view per pool, since each pool runs its own adapter.
import type { ArrayDtype, NdArray } from '../wire/codec.js';
import type { BroadcastOptions, BroadcastResult, CallOptions, StreamOptions } from './calls.js';

/** One tool's types: its keyword arguments, and its result or (a generator tool) each chunk. */
export type ToolSignature = { args: object; result: unknown } | { args: object; chunk: unknown };

/** An interface of tools by name, such as the one `npx snakepit types` writes. */
export type ToolSet<T> = { [K in keyof T]: ToolSignature };

export type ToolArgs<S> = S extends { args: infer A } ? A : never;
/** What `execute` resolves with: the result, or every chunk of a generator tool at once. */
export type ToolResult<S> = S extends { result: infer R } ? R : S extends { chunk: infer C } ? C[] : unknown;
/** What `stream` yields: each chunk, or a plain tool's result as its one chunk. */
export type ToolChunk<S> = S extends { chunk: infer C } ? C : S extends { result: infer R } ? R : unknown;

/** Typed arrays that arrive in Python as a 1-D array of each dtype (a Uint8Array is bytes). */
interface FlatArrays {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8ClampedArray;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  bool: never;
}

/** What a NumPy-array parameter takes: `{ dtype, shape, data }` (as results arrive), or a typed array as a 1-D array. */
export type NdArrayArgument<D extends ArrayDtype = ArrayDtype> = NdArray<D> | FlatArrays[D];

/** The calls of a view: the pool is the view's. */
export type ToolCallOptions = Omit<CallOptions, 'pool'>;
export type ToolStreamOptions = Omit<StreamOptions, 'pool'>;
export type ToolBroadcastOptions = Omit<BroadcastOptions, 'pool'>;

/** The arguments object may be left out when the tool needs none. */
type ArgsAndOptions<S, O> = {} extends ToolArgs<S> ? [args?: ToolArgs<S>, options?: O] : [args: ToolArgs<S>, options?: O];

/** `pit.tools<Tools>({ pool })`: execute, stream and broadcast on one pool, checked against its tools' types. */
export interface ToolsView<T extends ToolSet<T>> {
  /** The pool the calls go to (the default pool unless `tools()` named one), whatever worker a call names. */
  readonly pool: string;
  execute<K extends keyof T & string>(tool: K, ...call: ArgsAndOptions<T[K], ToolCallOptions>): Promise<ToolResult<T[K]>>;
  stream<K extends keyof T & string>(tool: K, ...call: ArgsAndOptions<T[K], ToolStreamOptions>): AsyncGenerator<ToolChunk<T[K]>>;
  broadcast<K extends keyof T & string>(tool: K, ...call: ArgsAndOptions<T[K], ToolBroadcastOptions>): Promise<BroadcastResult<ToolResult<T[K]>>[]>;
}

/** A view without types: any tool name, any arguments object. */
export type AnyTools = Record<string, { args: object; result: unknown; chunk: unknown }>;

interface Calls {
  execute(tool: string, args?: object, options?: CallOptions): Promise<unknown>;
  stream(tool: string, args?: object, options?: StreamOptions): AsyncGenerator<unknown>;
  broadcast(tool: string, args?: object, options?: BroadcastOptions): Promise<BroadcastResult[]>;
}

export function toolsView<T extends ToolSet<T>>(calls: Calls, pool: string): ToolsView<T> {
  // Options that are not an object go through as they are, for the call to refuse them.
  const onPool = <O extends CallOptions>(options: O | undefined): O =>
    (options === undefined || (typeof options === 'object' && options !== null) ? { ...options, pool } : options) as O;
  return {
    pool,
    execute: (tool: string, args?: object, options?: ToolCallOptions) => calls.execute(tool, args, onPool(options)),
    stream: (tool: string, args?: object, options?: ToolStreamOptions) => calls.stream(tool, args, onPool(options)),
    broadcast: (tool: string, args?: object, options?: ToolBroadcastOptions) => calls.broadcast(tool, args, onPool(options)),
  } as ToolsView<T>;
}
