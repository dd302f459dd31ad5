// Call chains: a tool calls a function Node exposed (ctx.call), which calls a tool (execute),
// which may call Node again… Each call of a chain holds its worker's place until the calls it
// made return, so a chain can wait on itself: depth 3 on a pool of 2 workers never gets a third
// place. The chain travels with the exposed function's async context (AsyncLocalStorage), so a
// call made inside it knows which places its ancestors hold. A call that can never get a place
// fails at once; one that waits in the queue longer than its pool's nestedQueueTimeoutMs fails
// then — a chain of several callers may be waiting on each other, which no one place shows.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { WorkerSlot } from './workerSlot.js';
import { CallChainError } from '../errors.js';

/** One call of a chain: the tool that ran, where, and the exposed function it called. */
export interface ChainLink {
  tool: string;
  pool: string;
  /** The worker it holds a place on while the function it called runs. */
  slot: WorkerSlot | undefined;
  /** The exposed function the tool called (ctx.call), which made the next call of the chain. */
  via: string;
}

/** The calls a call is nested in, outermost first; empty for a call made outside any chain. */
export type CallChain = readonly ChainLink[];

const chains = new AsyncLocalStorage<CallChain>();

/** The chain of the code running now: set inside an exposed function, undefined elsewhere. */
export function currentChain(): CallChain | undefined {
  return chains.getStore();
}

/** Runs an exposed function called by `caller` (a running call) as part of its chain. */
export function runInChain<T>(caller: { tool: string; slot: WorkerSlot | undefined; chain: CallChain | undefined }, via: string, fn: () => T): T {
  const link: ChainLink = { tool: caller.tool, pool: caller.slot?.pool ?? '', slot: caller.slot, via };
  return chains.run([...(caller.chain ?? []), link], fn);
}

/**
 * The error of a call nested in `chain` that can never run: its ancestors hold every place of
 * the pool (`slots`, `capacity` places in all), and they free only once this call ends.
 */
export function chainDeadlock(tool: string, pool: string, chain: CallChain, slots: readonly WorkerSlot[], capacity: number): CallChainError | undefined {
  const held = chain.filter((link) => link.slot !== undefined && slots.includes(link.slot)).length;
  if (held === 0 || held < capacity) return undefined;
  return new CallChainError(
    pool,
    names(chain, tool),
    `Call to tool "${tool}" can never get a worker of pool "${pool}": the calls it is nested in (${render(chain, tool)}) ` +
      `hold ${held} of the pool's ${capacity} places, and free them only when this call returns. ` +
      'Give the pool more workers than the chain is deep, or do not call back into the same pool.',
  );
}

/** The error of a call nested in `chain` that waited `waitedMs` in the queue of `pool`. */
export function chainWaited(tool: string, pool: string, chain: CallChain, waitedMs: number): CallChainError {
  return new CallChainError(
    pool,
    names(chain, tool),
    `Call to tool "${tool}" waited ${waitedMs} ms (nestedQueueTimeoutMs) in the queue of pool "${pool}" without a free worker. ` +
      `It was made inside the call chain ${render(chain, tool)}, whose calls hold their places until it returns, ` +
      'so the chain may be waiting on itself or on another chain. Add workers, or raise nestedQueueTimeoutMs.',
  );
}

function names(chain: CallChain, tool: string): string[] {
  return [...chain.map((link) => link.tool), tool];
}

/** `"a" → lookup() → "b" → …`: the tools of the chain, outermost first, and the functions between. */
function render(chain: CallChain, tool: string): string {
  return [...chain.map((link) => `"${link.tool}" → ${link.via}()`), `"${tool}"`].join(' → ');
}
