// Splits a process's output into lines while holding at most `maxLineBytes` of any one line:
// a tool that prints 20 MB without a newline costs that many bytes of pipe traffic, not of
// memory (readline would buffer the whole line). Line breaks are those of readline: "\n",
// "\r\n" (also split across chunks) and a lone "\r".
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

const LF = 0x0a;
const CR = 0x0d;

// Output caps for every Python process of ours (a worker, a fork server), so memory stays
// bounded whatever a tool prints: a stdout or stderr line reaches `worker:log` with at most
// 64 KiB (the rest is dropped and a marker gives its full length); a control message may be
// 1 MiB long, and a longer one is dropped (it is our bridge's own JSON).
export const LOG_LINE_BYTES = 64 * 1024;
export const CONTROL_LINE_BYTES = 1024 * 1024;

/** A control channel's message: a JSON object with a `type`. */
export interface ControlMessage {
  type: string;
  [key: string]: unknown;
}

/** A control line as its message; undefined if it is not one. */
export function parseControl(line: string): ControlMessage | undefined {
  try {
    const value = JSON.parse(line);
    return value && typeof value.type === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

export function readCappedLines(stream: Readable, maxLineBytes: number, onLine: (line: string) => void): void {
  let parts: Buffer[] = [];
  let kept = 0;
  let total = 0;
  let pending = false;
  let afterCR = false;

  const append = (chunk: Buffer, from: number, to: number) => {
    pending = true;
    total += to - from;
    const room = maxLineBytes - kept;
    if (room <= 0 || to <= from) return;
    // A copy: a slice would keep the whole chunk alive.
    const piece = Buffer.from(chunk.subarray(from, Math.min(to, from + room)));
    parts.push(piece);
    kept += piece.length;
  };
  const flush = () => {
    const bytes = Buffer.concat(parts, kept);
    onLine(total > kept ? `${utf8Prefix(bytes)} … [truncated: line of ${total} bytes]` : bytes.toString('utf8'));
    parts = [];
    kept = 0;
    total = 0;
    pending = false;
  };

  stream.on('data', (chunk: Buffer) => {
    let at = afterCR && chunk[0] === LF ? 1 : 0;
    afterCR = false;
    let nextLF = chunk.indexOf(LF, at);
    let nextCR = chunk.indexOf(CR, at);
    for (;;) {
      if (nextLF >= 0 && nextLF < at) nextLF = chunk.indexOf(LF, at);
      if (nextCR >= 0 && nextCR < at) nextCR = chunk.indexOf(CR, at);
      const end = nextLF < 0 ? nextCR : nextCR < 0 ? nextLF : Math.min(nextLF, nextCR);
      if (end < 0) break;
      append(chunk, at, end);
      flush();
      at = end + 1;
      if (chunk[end] === CR) {
        if (at >= chunk.length) afterCR = true;
        else if (chunk[at] === LF) at += 1;
      }
    }
    if (at < chunk.length) append(chunk, at, chunk.length);
  });
  stream.on('end', () => {
    if (pending) flush();
  });
}

/** At most `maxBytes` of `text`, cut at a character boundary and marked when cut. */
export function clipLine(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  return `${utf8Prefix(Buffer.from(text).subarray(0, maxBytes))} … [truncated]`;
}

/** The text of `bytes`, without a character cut in half at the end. */
function utf8Prefix(bytes: Buffer): string {
  return new StringDecoder('utf8').write(bytes);
}
