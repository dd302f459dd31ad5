// JSON values on the wire. Byte strings travel out of band as blobs, referenced from the JSON
// by {"$bytes": i}, so a Buffer arrives in Python as `bytes` without base64 or a copy into the
// JSON text, and nothing is pickled. A typed blob adds its type: {"$bytes": i, "dtype": d,
// "shape": [...]} is an array whose raw little-endian data is blobs[i] (a typed array here, a
// NumPy array in Python), and {"$bytes": i, "dtype": "bigint"} a Python int beyond 2^53 − 1
// as its decimal digits, which becomes a BigInt. An array arrives here as { dtype, shape, data }
// (an NdArray), and an argument of that form goes as the same typed blob, so a result sent back
// arrives as the array it was. A user's own key "$bytes" is sent as "$$bytes" (one more "$" for
// every key of the form $…$bytes), so the marker cannot be forged; both sides undo it.
//
// Arguments are checked while they are encoded, in one walk: what was checked is what is sent.
// Anything JSON cannot carry faithfully is refused with the path to it, never silently changed.

export interface WireValue {
  json: Buffer;
  blobs: Buffer[];
}

export interface EncodeLimits {
  /** Objects and arrays nested deeper than this are refused. */
  maxDepth: number;
  /** JSON text plus blobs may not exceed this many bytes. */
  maxBytes: number;
}

/** Why an argument cannot be sent; `path` locates it (e.g. `images[2].data`). */
export class ArgumentProblem extends Error {
  constructor(
    public path: string,
    readonly problem: string,
    readonly tooLarge?: { size: number; limit: number },
  ) {
    super(problem);
  }

  within(key: string | number): ArgumentProblem {
    this.path = pathStep(key) + this.path;
    return this;
  }
}

/** Typed arrays by the NumPy dtype they travel as (Uint8Array and Buffer travel as bytes). */
const ARRAY_TYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as const;

export type ArrayDtype = keyof typeof ARRAY_TYPES;

/** NumPy 2's limit on an array's dimensions (also memoryview's). */
const MAX_DIMENSIONS = 64;

/**
 * A NumPy array from Python: its raw data as a typed array (row-major), its dtype and shape.
 * Sent as an argument, the same form arrives in Python as an ndarray of that dtype and shape.
 */
export interface NdArray<D extends ArrayDtype = ArrayDtype> {
  dtype: D;
  shape: number[];
  data: ArrayData<D>;
}

/** The typed array an array of dtype `D` holds its data in (`bool`: a Uint8Array of 0/1). */
export type ArrayData<D extends ArrayDtype = ArrayDtype> = InstanceType<(typeof ARRAY_TYPES)[D]>;

/** User keys sent with one more "$", and the escaped form received (drop one "$"). */
const USER_KEY = /^\$+bytes$/;
const ESCAPED_KEY = /^\$\$+bytes$/;

declare global {
  interface String {
    /** False when the string holds a lone UTF-16 surrogate (Node 20+, ES2024). */
    isWellFormed(): boolean;
  }
}

interface EncodeState {
  blobs: Buffer[];
  size: number;
  limits: EncodeLimits;
  /** The objects being encoded, outermost first: a value among them is a circular reference. */
  ancestors: object[];
}

/** A call's keyword arguments as JSON text plus blobs, or an ArgumentProblem thrown. */
export function encodeArguments(args: object, limits: EncodeLimits): WireValue {
  return encodeWith((state) => encodeObject(args, state, 1, true), limits);
}

/** Any value the arguments may hold, e.g. the result of a function Python called (ctx.call). */
export function encodeValue(value: unknown, limits: EncodeLimits): WireValue {
  return encodeWith((state) => encodeAny(value, state, 0), limits);
}

function encodeWith(encode: (state: EncodeState) => string, limits: EncodeLimits): WireValue {
  const state: EncodeState = { blobs: [], size: 0, limits, ancestors: [] };
  const text = encode(state);
  const json = Buffer.from(text);
  const size = json.length + state.size;
  if (size > limits.maxBytes) throw new ArgumentProblem('', 'too large', { size, limit: limits.maxBytes });
  return { json, blobs: state.blobs };
}

function encodeAny(value: unknown, state: EncodeState, depth: number): string {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new ArgumentProblem('', 'is a string with a lone UTF-16 surrogate, which UTF-8 cannot carry');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new ArgumentProblem('', `is ${value}, which JSON cannot carry; send null or a string`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString(); // bare digits: Python reads them as an exact int
    case 'object':
      return value === null ? 'null' : encodeObject(value, state, depth + 1);
    default:
      throw new ArgumentProblem('', `is ${typeof value === 'undefined' ? 'undefined (use null)' : `a ${typeof value}`}, which cannot be sent to Python`);
  }
}

/** `keywords`: the arguments object itself, whose keys are always keyword arguments. */
function encodeObject(value: object, state: EncodeState, depth: number, keywords = false): string {
  if (value instanceof Uint8Array && !(value instanceof Uint8ClampedArray)) return encodeBytes(value, state);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return encodeTypedArray(value, state);
  if (state.ancestors.includes(value)) throw new ArgumentProblem('', 'refers back to itself (a circular reference)');
  if (depth > state.limits.maxDepth) throw new ArgumentProblem('', `is nested more than maxArgumentDepth (${state.limits.maxDepth}) levels deep`);
  state.ancestors.push(value);
  const text = Array.isArray(value) ? encodeArray(value, state, depth) : encodeRecord(value, state, depth, keywords);
  state.ancestors.pop();
  return text;
}

function encodeRecord(value: object, state: EncodeState, depth: number, keywords: boolean): string {
  const proto = Object.getPrototypeOf(value);
  const refused = proto === Object.prototype || proto === null ? undefined : refusedKind(value);
  if (refused) throw new ArgumentProblem('', refused);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    // Dates and other values that say how they become JSON, as JSON.stringify does.
    return encodeAny((value as { toJSON(): unknown }).toJSON(), state, depth - 1);
  }
  const keys = Object.keys(value);
  // The form NumPy results arrive in: sent back as an array of that dtype and shape.
  if (keys.length === 3 && !keywords && keys.includes('data') && keys.includes('dtype') && keys.includes('shape')) {
    // Each field read once: a getter is not asked again between the checks and the sending.
    const { dtype, shape, data } = value as Record<'dtype' | 'shape' | 'data', unknown>;
    if (ArrayBuffer.isView(data)) return encodeNdArray(dtype, shape, data, state);
  }
  let out = '{';
  for (const key of keys) {
    try {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined) continue; // an absent keyword argument, as in JSON.stringify
      if (!key.isWellFormed()) throw new ArgumentProblem('', 'has a key with a lone UTF-16 surrogate');
      const wireKey = key.endsWith('bytes') && USER_KEY.test(key) ? `$${key}` : key;
      out += (out.length > 1 ? ',' : '') + JSON.stringify(wireKey) + ':' + encodeAny(item, state, depth);
    } catch (error) {
      throw located(error, key);
    }
  }
  checkSize(out, state);
  return out + '}';
}

function encodeArray(value: unknown[], state: EncodeState, depth: number): string {
  let out = '[';
  for (let i = 0; i < value.length; i++) {
    try {
      if (!(i in value)) throw new ArgumentProblem('', 'is a hole in a sparse array; fill it (e.g. with null)');
      out += (i > 0 ? ',' : '') + encodeAny(value[i], state, depth);
    } catch (error) {
      throw located(error, i);
    }
  }
  checkSize(out, state);
  return out + ']';
}

function encodeBytes(value: Uint8Array, state: EncodeState): string {
  const blob = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  state.size += blob.length;
  checkSize('', state);
  state.blobs.push(blob);
  return `{"$bytes":${state.blobs.length - 1}}`;
}

/** A typed array (other than Uint8Array) as a 1-D array's raw data: a NumPy array in Python. */
function encodeTypedArray(value: ArrayBufferView, state: EncodeState): string {
  const dtype = value instanceof Uint8ClampedArray ? 'uint8' : dtypeOf(value);
  return encodeArrayData(value, dtype, [value.byteLength / ARRAY_TYPES[dtype].BYTES_PER_ELEMENT], state);
}

/**
 * `{ dtype, shape, data }` (an NdArray, as results arrive) as an array of that dtype and shape.
 * Its data being a typed array says it is meant as one, so anything inconsistent is refused
 * rather than sent as a plain object.
 */
function encodeNdArray(dtype: unknown, shape: unknown, data: ArrayBufferView, state: EncodeState): string {
  const form = 'is an array ({ dtype, shape, data })';
  if (typeof dtype !== 'string' || !Object.hasOwn(ARRAY_TYPES, dtype)) {
    throw new ArgumentProblem('', `${form} whose dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(ARRAY_TYPES).join(', ')}`);
  }
  const type = ARRAY_TYPES[dtype as ArrayDtype];
  if (!(data instanceof type || (type === Uint8Array && data instanceof Uint8ClampedArray))) {
    throw new ArgumentProblem('', `${form} whose data is a ${data.constructor.name}, but dtype "${dtype}" needs a ${type.name}`);
  }
  // A copy: a hole in a sparse array becomes undefined (which fails), and nothing changes it after the check.
  const sizes: unknown[] | undefined = Array.isArray(shape) && shape.length <= MAX_DIMENSIONS ? Array.from(shape) : undefined;
  if (!sizes?.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
    throw new ArgumentProblem('', `${form} whose shape is not a list of at most ${MAX_DIMENSIONS} sizes (whole numbers ≥ 0)`);
  }
  const dims = sizes as number[];
  const elements = dims.reduce((a, b) => a * b, 1);
  const length = data.byteLength / type.BYTES_PER_ELEMENT;
  if (elements !== length) throw new ArgumentProblem('', `${form} whose shape [${dims}] holds ${elements} elements, but data has ${length}`);
  return encodeArrayData(data, dtype as ArrayDtype, dims, state);
}

function encodeArrayData(data: ArrayBufferView, dtype: ArrayDtype, shape: number[], state: EncodeState): string {
  const blob = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  state.size += blob.length;
  checkSize('', state);
  state.blobs.push(blob);
  return `{"$bytes":${state.blobs.length - 1},"dtype":"${dtype}","shape":[${shape.join(',')}]}`;
}

function dtypeOf(value: ArrayBufferView): ArrayDtype {
  for (const [dtype, type] of Object.entries(ARRAY_TYPES)) if (value instanceof type) return dtype as ArrayDtype;
  throw new ArgumentProblem('', `is a ${value.constructor.name}, which has no NumPy dtype`);
}

/** Bails out early on a value far over the limit, before building all of its text. */
function checkSize(text: string, state: EncodeState): void {
  const size = text.length + state.size;
  if (size > state.limits.maxBytes) throw new ArgumentProblem('', 'too large', { size, limit: state.limits.maxBytes });
}

/** Kinds JSON would turn into `{}` or mangle: refused with what to send instead. */
function refusedKind(value: object): string | undefined {
  if (value instanceof Map) return 'is a Map, which JSON cannot carry; send Object.fromEntries(map) or [...map]';
  if (value instanceof Set) return 'is a Set, which JSON cannot carry; send [...set]';
  if (value instanceof DataView) return 'is a DataView; send a typed array (e.g. new Float64Array(view.buffer)) or a Buffer over its bytes';
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return 'is an ArrayBuffer; wrap it in a Buffer (Buffer.from(ab)) to send its bytes';
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof Promise || value instanceof RegExp || value instanceof Error) {
    return `is a ${value.constructor.name}, which JSON cannot carry`;
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean) return 'is a boxed primitive; send the primitive value';
  return undefined;
}

function located(error: unknown, key: string | number): ArgumentProblem {
  if (error instanceof ArgumentProblem) return error.within(key);
  const reason = error instanceof RangeError ? 'is too deeply nested to encode' : `could not be read: ${describe(error)}`;
  return new ArgumentProblem(pathStep(key), reason);
}

function describe(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'an unprintable exception';
  }
}

function pathStep(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

// ---- results --------------------------------------------------------------------------------

export function decodeValue(wire: { json: Buffer; blobs?: Buffer[] }): unknown {
  const text = wire.json.toString('utf8');
  if (text.length === 0) return null;
  const value = JSON.parse(text);
  const blobs = wire.blobs ?? [];
  return blobs.length > 0 || text.includes('$$bytes"') ? restore(value, blobs) : value;
}

/** A typed blob's value (an NdArray or a BigInt); undefined if the marker is not well formed. */
function typedValue(marker: Record<string, unknown>, keys: number, blob: Buffer): NdArray | bigint | undefined {
  const { dtype, shape } = marker;
  if (dtype === 'bigint' && keys === 2) return BigInt(blob.toString('latin1'));
  if (keys !== 3 || typeof dtype !== 'string' || !Object.hasOwn(ARRAY_TYPES, dtype) || !Array.isArray(shape)) return undefined;
  const type = ARRAY_TYPES[dtype as ArrayDtype];
  const size = type.BYTES_PER_ELEMENT;
  if (blob.length % size !== 0) return undefined;
  // A typed array must start at a multiple of its element size: a blob inside a frame may not.
  const data =
    blob.byteOffset % size === 0
      ? new type(blob.buffer as ArrayBuffer, blob.byteOffset, blob.length / size)
      : new type(new Uint8Array(blob).buffer, 0, blob.length / size);
  return { dtype: dtype as ArrayDtype, shape: shape as number[], data };
}

/** Puts blobs back where their markers are, and undoes the escaping of user "$bytes" keys. */
function restore(value: unknown, blobs: Buffer[]): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restore(value[i], blobs);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length <= 3 && Number.isInteger(record.$bytes) && blobs[record.$bytes as number]) {
    const blob = blobs[record.$bytes as number];
    if (keys.length === 1) return blob;
    const typed = typedValue(record, keys.length, blob);
    if (typed !== undefined) return typed;
  }
  if (!keys.some((key) => ESCAPED_KEY.test(key) || key === '__proto__')) {
    for (const key of keys) record[key] = restore(record[key], blobs);
    return record;
  }
  // fromEntries defines each key, so a "__proto__" key stays a key and never sets the prototype.
  return Object.fromEntries(keys.map((key) => [ESCAPED_KEY.test(key) ? key.slice(1) : key, restore(record[key], blobs)]));
}
