/**
 * One cell of the peers section: a fresh Node process that opens one bridge (bridges.ts), then
 * measures it when the parent asks (cells.ts), so the parent can interleave the paths in
 * rounds while each keeps its own warm process. Started with the bridge key as its argument;
 * speaks over the fork IPC channel; closes its bridge and exits when told, or when the parent
 * goes away.
 */
import { measureSequential } from '../floors.js';
import { nodeCpuUs, totalCpuUs } from '../cpuTime.js';
import { BRIDGES, type Bridge, type BridgeKey } from './bridges.js';

export type CellRequest =
  | { type: 'seq'; calls: number; warmup: number }
  | { type: 'burst'; inFlight: number; ms: number }
  | { type: 'close' };

export interface CellCpu {
  /** µs of this cell's Node CPU per call (includes Python when it runs inside Node). */
  nodeUs: number;
  /** µs of the Python processes' CPU per call; null when Python runs inside Node. */
  pythonUs: number | null;
}
export type CellReply =
  | { type: 'ready'; pythonPids: number[] }
  | { type: 'seq'; medianUs: number; p90Us: number; cpu: CellCpu }
  | { type: 'burst'; callsPerSec: number; cpu: CellCpu }
  | { type: 'error'; message: string };

const send = (reply: CellReply) => process.send!(reply);

/** Runs `measure` and returns its result with the CPU both sides spent per call. */
async function withCpu<T>(bridge: Bridge, measure: () => Promise<{ result: T; calls: number }>): Promise<{ result: T; cpu: CellCpu }> {
  const pids = bridge.pythonPids();
  const node0 = nodeCpuUs();
  const py0 = totalCpuUs(pids);
  const { result, calls } = await measure();
  return {
    result,
    cpu: { nodeUs: (nodeCpuUs() - node0) / calls, pythonUs: pids.length ? (totalCpuUs(pids) - py0) / calls : null },
  };
}

/** `inFlight` lanes each calling back-to-back until `ms` have passed; completed calls per second. */
async function burst(call: () => Promise<unknown>, inFlight: number, ms: number): Promise<{ result: number; calls: number }> {
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + ms;
  const lane = async () => {
    while (performance.now() < deadline) {
      await call();
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return { result: done / ((performance.now() - t0) / 1000), calls: done };
}

async function serve(key: BridgeKey): Promise<void> {
  let bridge: Bridge;
  try {
    bridge = await BRIDGES[key].open();
    await bridge.call();
  } catch (e) {
    send({ type: 'error', message: (e as Error).stack ?? String(e) });
    process.disconnect();
    return;
  }
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await bridge.close().catch(() => undefined);
    process.disconnect?.();
    // The embedded interpreter of node-calls-python keeps libuv threads: leave explicitly.
    process.exit(0);
  };
  process.on('disconnect', () => void close());
  process.on('message', async (req: CellRequest) => {
    try {
      if (req.type === 'close') return void (await close());
      if (req.type === 'seq') {
        const { result, cpu } = await withCpu(bridge, async () => ({
          result: await measureSequential(bridge.call, req.calls, req.warmup),
          calls: req.calls + req.warmup,
        }));
        send({ type: 'seq', medianUs: result.medianUs, p90Us: result.p90Us, cpu });
      } else {
        const { result, cpu } = await withCpu(bridge, () => burst(bridge.call, req.inFlight, req.ms));
        send({ type: 'burst', callsPerSec: result, cpu });
      }
    } catch (e) {
      send({ type: 'error', message: (e as Error).stack ?? String(e) });
    }
  });
  send({ type: 'ready', pythonPids: bridge.pythonPids() });
}

await serve(process.argv[2] as BridgeKey);
