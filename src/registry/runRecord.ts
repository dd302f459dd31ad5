// One run's record file: which Node process owns the run and which worker PIDs it started.
// Only files with our own name pattern are read, and only a regular file we own, of sane size,
// whose every field has the expected type, counts as a record.
import { closeSync, constants, fstatSync, openSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { ownUid } from './privateDir.js';

export interface RunRecord {
  runId: string;
  ownerPid: number;
  pids: number[];
}

/** A run id is `randomBytes(6)` in hex; nothing else names a run. */
export const RUN_ID = /^[0-9a-f]{12}$/;
export const RECORD_FILE = /^([0-9a-f]{12})\.json$/;
/** A record lists one run's workers; anything larger was not written by us. */
const MAX_RECORD_BYTES = 256 * 1024;

/** The record, or why the file is not one (the caller warns and leaves the file alone). */
/** What readRecord says of a record its run (or another start's sweep) removed meanwhile. */
export const RECORD_GONE = 'removed while reading';

export function readRecord(file: string, runId: string): RunRecord | string {
  let fd: number;
  try {
    // No symlink is followed, and a planted FIFO cannot block the open.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? RECORD_GONE : `cannot be opened (${(error as Error).message})`;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return 'is not a regular file';
    const uid = ownUid();
    if (uid !== undefined && stats.uid !== uid) return `is owned by uid ${stats.uid}, not by us`;
    if (stats.size > MAX_RECORD_BYTES) return `is ${stats.size} bytes, more than a record can be`;
    const buffer = Buffer.alloc(stats.size);
    const length = readSync(fd, buffer, 0, stats.size, 0);
    return parseRecord(buffer.subarray(0, length).toString('utf8'), runId);
  } finally {
    closeSync(fd);
  }
}

function parseRecord(text: string, runId: string): RunRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  const { runId: id, ownerPid, pids } = value as Record<string, unknown>;
  if (id !== runId) return 'does not name the run its file name says';
  if (!isPid(ownerPid)) return 'has no valid ownerPid';
  if (!Array.isArray(pids) || !pids.every(isPid)) return 'has no valid pids list';
  return { runId, ownerPid, pids };
}

/** A real process id; 0 and 1 never name a worker, and -1 would signal every process. */
function isPid(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 1;
}

/** Replaces the file at once, so a reader never sees half a record. */
export function writeRecord(file: string, record: RunRecord): void {
  const partial = `${file}.partial`;
  writeFileSync(partial, JSON.stringify(record), { mode: 0o600 });
  renameSync(partial, file);
}
