/**
 * A hand-written JSON-lines client: one JSON value per line on a child's stdin, one reply per
 * line on its stdout, in order. This is what a user writes without any bridge library, and
 * the floor the bridges are compared with.
 */
import type { ChildProcess } from 'node:child_process';

export class JsonLines {
  private readonly waiting: Array<{ res: (v: unknown) => void; rej: (e: Error) => void }> = [];
  private pending = '';
  private readonly unsent: string[] = [];
  private readonly exited: Promise<void>;

  /** With `batched`, the lines of one tick go out in one write (the bare floor's Node side). */
  constructor(private readonly child: ChildProcess, private readonly batched = false) {
    this.exited = new Promise((res) => child.once('exit', () => res()));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    child.once('exit', (code, signal) => {
      const error = new Error(`JSON-lines child exited (${code ?? signal})`);
      for (const w of this.waiting.splice(0)) w.rej(error);
    });
  }

  request(value: unknown): Promise<unknown> {
    return new Promise((res, rej) => {
      this.waiting.push({ res, rej });
      const line = JSON.stringify(value) + '\n';
      if (!this.batched) return void this.child.stdin!.write(line);
      if (this.unsent.push(line) === 1) queueMicrotask(() => this.child.stdin!.write(this.unsent.splice(0).join('')));
    });
  }

  /** Closes stdin, so the child's read loop ends, and waits for it to exit. */
  async close(): Promise<void> {
    this.child.stdin!.end();
    await this.exited;
  }

  private onData(chunk: string): void {
    let text = this.pending + chunk;
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      this.waiting.shift()?.res(JSON.parse(line));
    }
    this.pending = text;
  }
}
