// Where worker output goes besides `worker:log`: a service's logs should show what its Python
// code prints and every traceback, with or without a listener.

export interface WorkerLogEntry {
  pool: string;
  workerId: string;
  pid: number | undefined;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** Receives each line a worker prints (the `logger` option); `false` turns it off. */
export type WorkerLogger = (entry: WorkerLogEntry) => void;

/** The default: each line on Node's stderr, prefixed with the worker and the stream. */
export const stderrLogger: WorkerLogger = ({ workerId, stream, line }) => {
  process.stderr.write(`[snakepit ${workerId} ${stream}] ${line}\n`);
};
