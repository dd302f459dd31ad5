// Which calls a process worker started, as the worker itself records them
// (python/snakepit_bridge/started.py): the highest call id it started, in an 8-byte file beside
// its socket, written through a shared mapping so that it survives a kill -9. Read once the
// worker is dead, it tells the calls sent ahead that never started from those that may have run.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

export class StartedCallsFile {
  private removed = false;
  private last: number | undefined;

  constructor(readonly path: string) {
    writeFileSync(path, Buffer.alloc(8), { mode: 0o600, flag: 'wx' });
  }

  /**
   * The highest call id the worker started so far: final once it has exited, a lower bound
   * while it runs; undefined if the file cannot be read (then every call it held may have run).
   */
  highestStarted(): number | undefined {
    if (this.removed) return this.last;
    try {
      const bytes = readFileSync(this.path);
      return bytes.length === 8 ? Number(bytes.readBigUInt64LE(0)) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Once the worker has exited: its last answer is kept for whoever asks later. */
  remove(): void {
    this.last = this.highestStarted();
    this.removed = true;
    rmSync(this.path, { force: true });
  }
}
