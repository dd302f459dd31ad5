// How a large call's arguments leave in parts: each part written only once the transport took
// the previous one, and long pieces in parts of their own.

/**
 * Arguments larger than this leave in parts of this size, each written only once the previous one
 * was taken by the transport: a 100 MB Buffer never sits in Node's memory twice, never blocks the
 * event loop for long, and calls to the same worker keep flowing between its parts.
 */
export const PART_BYTES = 1 << 20;

/** A piece this long (a blob, a large JSON text) gets parts of its own. */
const OWN_PARTS_BYTES = 64 * 1024;

/**
 * Cuts a Value's pieces into parts of at most PART_BYTES. Small pieces (field headers, short
 * fields) share parts; a long piece starts a part and ends one, so every part of it lies
 * inside that one field: the local lane's worker reads such a part straight into the field's
 * own buffer.
 */
export function* partsOf(pieces: Buffer[]): Generator<Buffer[]> {
  let part: Buffer[] = [];
  let room = PART_BYTES;
  for (const piece of pieces) {
    const long = piece.length >= OWN_PARTS_BYTES;
    if (long && part.length) {
      yield part;
      part = [];
      room = PART_BYTES;
    }
    for (let offset = 0; offset < piece.length; ) {
      const take = Math.min(room, piece.length - offset);
      part.push(piece.subarray(offset, offset + take));
      offset += take;
      room -= take;
      if (room === 0 || (long && offset === piece.length)) {
        yield part;
        part = [];
        room = PART_BYTES;
      }
    }
  }
  if (part.length) yield part;
}
