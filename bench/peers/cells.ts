/**
 * The parent's handle on a cell (cell.ts): forks it, waits for its bridge to be ready, sends
 * one measurement request at a time and returns the reply. A cell that fails to open reports
 * why; the section then prints the path as skipped with that reason and goes on.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../floors.js';
import { notePythonPids, trackChild } from '../processes.js';
import type { BridgeKey } from './bridges.js';
import type { CellReply, CellRequest } from './cell.js';

const cellScript = join(dirname(fileURLToPath(import.meta.url)), 'cell.ts');
const READY_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 120_000;

export class Cell {
  private constructor(
    readonly key: BridgeKey,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  /** Forks the cell and waits for its bridge; rejects with the cell's own reason on failure. */
  static async open(key: BridgeKey): Promise<Cell> {
    const child = fork(cellScript, [key], {
      cwd: repoRoot,
      execArgv: ['--import', 'tsx'],
      // Python's own output (pythonia inherits stdio) must not interleave with the tables.
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    trackChild(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    const cell = new Cell(key, child, exited);
    const reply = await cell.next(READY_TIMEOUT_MS, () => stderr);
    if (reply.type !== 'ready') {
      await cell.close();
      throw new Error(reply.type === 'error' ? reply.message : `unexpected reply ${reply.type}`);
    }
    notePythonPids(reply.pythonPids);
    return cell;
  }

  async request<T extends CellReply['type']>(req: CellRequest, expect: T): Promise<Extract<CellReply, { type: T }>> {
    const reply = this.next(REQUEST_TIMEOUT_MS, () => '');
    this.child.send(req);
    const r = await reply;
    if (r.type !== expect) throw new Error(`${this.key}: ${r.type === 'error' ? r.message : `unexpected reply ${r.type}`}`);
    return r as Extract<CellReply, { type: T }>;
  }

  /** Asks the cell to close its bridge and exit; kills it if it has not within 10 s. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'close' } satisfies CellRequest);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  private next(timeoutMs: number, stderr: () => string): Promise<CellReply> {
    return new Promise((res, rej) => {
      const done = () => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      const onMessage = (m: CellReply) => {
        done();
        res(m);
      };
      const onExit = (code: number | null, signal: string | null) => {
        done();
        rej(new Error(`${this.key} cell exited (${code ?? signal}) ${stderr().trim()}`));
      };
      const timer = setTimeout(() => {
        done();
        rej(new Error(`${this.key} cell did not answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
    });
  }
}
