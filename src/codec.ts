// JSON values on the wire. Byte strings travel out of band as blobs, referenced from the JSON
// by {"$bytes": i}, so a Buffer arrives in Python as `bytes` without base64 and nothing is
// pickled. The common case (no bytes, no BigInt) is a plain JSON.stringify / JSON.parse.

export interface WireValue {
  json: Buffer;
  blobs: Buffer[];
}

const EMPTY: Buffer[] = [];
const BIGINT_MARK = '\u0000bigint:';
const BIGINT_PATTERN = /"\\u0000bigint:(-?\d+)"/g;

export function encodeValue(value: unknown): WireValue {
  if (!needsReplacer(value, 0)) {
    return { json: Buffer.from(JSON.stringify(value ?? null)), blobs: EMPTY };
  }
  const blobs: Buffer[] = [];
  const json = JSON.stringify(value ?? null, function replacer(this: any, key: string, v: unknown) {
    const raw = this[key];
    if (raw instanceof Uint8Array) {
      blobs.push(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
      return { $bytes: blobs.length - 1 };
    }
    if (typeof raw === 'bigint') return BIGINT_MARK + raw.toString();
    return v;
  });
  // A BigInt becomes bare digits, which Python reads back as an exact int.
  return { json: Buffer.from(json.replace(BIGINT_PATTERN, '$1')), blobs };
}

export function decodeValue(wire: { json: Buffer; blobs?: Buffer[] }): unknown {
  const text = wire.json.toString('utf8');
  if (text.length === 0) return null;
  const value = JSON.parse(text);
  const blobs = wire.blobs;
  return blobs && blobs.length > 0 ? restoreBlobs(value, blobs) : value;
}

function restoreBlobs(value: unknown, blobs: Buffer[]): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restoreBlobs(value[i], blobs);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && keys[0] === '$bytes' && Number.isInteger(record.$bytes)) {
      return blobs[record.$bytes as number];
    }
    for (const key of keys) record[key] = restoreBlobs(record[key], blobs);
  }
  return value;
}

/** True when the value holds bytes or a BigInt, which plain JSON.stringify cannot carry. */
function needsReplacer(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return typeof value === 'bigint';
  if (value instanceof Uint8Array) return true;
  if (depth > 64) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (needsReplacer(item, depth + 1)) return true;
    return false;
  }
  for (const key in value) if (needsReplacer((value as Record<string, unknown>)[key], depth + 1)) return true;
  return false;
}
