// Length-prefixed frames out of a byte stream (the local lane): each frame is a 4-byte
// big-endian length and that many bytes. Chunks are kept as they arrive and a frame is cut out
// once all of it is there: a frame inside one chunk is a slice of it, one that spans chunks is
// copied once, never re-concatenated as each chunk lands.
import { FrameDecodeError } from './sessionCodec.js';

export const FRAME_HEADER_BYTES = 4;

export class FrameReader {
  private readonly chunks: Buffer[] = [];
  /** Bytes held in `chunks`, from `offset` in the first one. */
  private held = 0;
  private offset = 0;
  /** Length of the frame being collected, once its header is in. */
  private frameSize = -1;

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
