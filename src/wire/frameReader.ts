// Length-prefixed frames out of a byte stream (the local lane): each frame is a 4-byte
// big-endian length and that many bytes. Chunks are kept as they arrive and a frame is cut out
// once all of it is there: a frame inside one chunk is a slice of it, one that spans chunks is
// copied once, never re-concatenated as each chunk lands. A reader that can choose where the
// socket writes (readTarget/didRead) gets a large frame's bytes written straight into it.
import { FrameDecodeError } from './sessionCodec.js';

export const FRAME_HEADER_BYTES = 4;
/** Frames at least this long are read in place, into a buffer of their own size. */
const IN_PLACE_BYTES = 256 * 1024;
const SCRATCH_BYTES = 64 * 1024;

export class FrameReader {
  private readonly chunks: Buffer[] = [];
  /** Bytes held in `chunks`, from `offset` in the first one. */
  private held = 0;
  private offset = 0;
  /** Length of the frame being collected, once its header is in. */
  private frameSize = -1;
  /** A large frame being read in place, and how much of it is there. */
  private inPlace: Buffer | undefined;
  private inPlaceFilled = 0;
  private scratch: Buffer | undefined;

  /** `maxFrameBytes`: a longer frame is an error, never a buffer of that size. */
  constructor(private readonly maxFrameBytes: number) {}

  /** Adds a chunk; returns the frames it completed. Throws FrameDecodeError on an oversized length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.held += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.frameSize < 0) {
        if (this.held < FRAME_HEADER_BYTES) break;
        const size = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (size > this.maxFrameBytes) {
          throw new FrameDecodeError(`bad frame from the worker: a frame of ${size} bytes is over the limit of ${this.maxFrameBytes}`);
        }
        this.frameSize = size;
      }
      if (this.held < this.frameSize) break;
      frames.push(this.take(this.frameSize));
      this.frameSize = -1;
    }
    return frames;
  }

  /**
   * Where the socket should write next: the rest of a large frame being collected (never
   * beyond it), else a scratch buffer that didRead copies out of.
   */
  readTarget(): Buffer {
    if (this.inPlace) return this.inPlace.subarray(this.inPlaceFilled);
    return (this.scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES));
  }

  /** `n` bytes were written into the last readTarget(); returns the frames they completed. */
  didRead(n: number): Buffer[] {
    const frame = this.inPlace;
    if (!frame) return this.collect(Buffer.from(this.scratch!.subarray(0, n)));
    this.inPlaceFilled += n;
    if (this.inPlaceFilled < frame.length) return [];
    this.inPlace = undefined;
    this.frameSize = -1;
    return [frame];
  }

  /** Like push, then starts reading in place if a large frame is still mostly to come. */
  private collect(chunk: Buffer): Buffer[] {
    const frames = this.push(chunk);
    if (this.frameSize >= IN_PLACE_BYTES && this.held < this.frameSize) {
      const frame = Buffer.allocUnsafe(this.frameSize);
      this.inPlaceFilled = this.held;
      if (this.held > 0) this.take(this.held).copy(frame);
      this.inPlace = frame;
    }
    return frames;
  }

  /** The next `size` held bytes: a slice when they lie in one chunk, else one copy. */
  private take(size: number): Buffer {
    if (size === 0) return EMPTY;
    this.held -= size;
    const first = this.chunks[0];
    if (first.length - this.offset >= size) {
      const out = first.subarray(this.offset, this.offset + size);
      this.advance(first, size);
      return out;
    }
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const chunk = this.chunks[0];
      const n = Math.min(size - filled, chunk.length - this.offset);
      chunk.copy(out, filled, this.offset, this.offset + n);
      filled += n;
      this.advance(chunk, n);
    }
    return out;
  }

  private advance(chunk: Buffer, n: number): void {
    this.offset += n;
    if (this.offset === chunk.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
