/**
 * Node's side of the plain-pipe floor (pipe_sink.py): moves a payload into or out of a Python
 * process over its stdio the way a careful hand-written client does (write the Buffer as is;
 * collect the chunks and join them once).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notePythonPids, trackChild } from '../processes.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'pipe_sink.py');

export class PlainPipe {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(python: string) {
    this.child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
    trackChild(this.child);
    notePythonPids([this.child.pid ?? 0]);
    this.exited = new Promise((res) => this.child.once('exit', () => res()));
  }

  private header(op: 'W' | 'R', size: number): Buffer {
    const h = Buffer.alloc(9);
    h.write(op, 0, 'latin1');
    h.writeBigUInt64BE(BigInt(size), 1);
    return h;
  }

  /** Reads exactly `size` bytes from the child's stdout, joined once at the end. */
  private receive(size: number): Promise<Buffer> {
    const out = this.child.stdout!;
    return new Promise((res, rej) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const onData = (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= size) {
          out.off('data', onData);
          this.child.off('exit', onExit);
          res(Buffer.concat(chunks, got));
        }
      };
      const onExit = () => rej(new Error('plain pipe child exited'));
      out.on('data', onData);
      this.child.once('exit', onExit);
    });
  }

  /** Sends `data` into Python; resolves once Python holds all of it. */
  async toPython(data: Buffer): Promise<void> {
    const ack = this.receive(8);
    this.child.stdin!.write(this.header('W', data.length));
    this.child.stdin!.write(data);
    const n = Number((await ack).readBigUInt64BE(0));
    if (n !== data.length) throw new Error(`plain pipe: Python received ${n} of ${data.length} bytes`);
  }

  /** Asks Python for `size` bytes; resolves with them. */
  async fromPython(size: number): Promise<Buffer> {
    const data = this.receive(size);
    this.child.stdin!.write(this.header('R', size));
    return data;
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    await this.exited;
  }
}
