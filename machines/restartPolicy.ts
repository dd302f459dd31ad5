// OTP's restart rules as pure functions: which exits are restarted, which children a strategy
// takes down with the crashed one, and when restarts come too fast (intensity within a period).

export type RestartStrategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';

export interface ExitInfo {
  exitCode: number | null;
  signal: string | null;
}

/** permanent: always; transient: only after an abnormal exit; temporary: never. */
export function shouldRestart(type: RestartType, exit: ExitInfo | undefined): boolean {
  if (type === 'temporary') return false;
  if (type === 'transient') return !isNormalExit(exit);
  return true;
}

export function isNormalExit(exit: ExitInfo | undefined): boolean {
  return exit !== undefined && exit.signal === null && exit.exitCode === 0;
}

/**
 * OTP gives up when more than `intensity` restarts fall within `periodMs`: with
 * `restartsInWindow` already inside the window, would one more exceed it?
 */
export function exceedsIntensity(restartsInWindow: number, intensity: number): boolean {
  return restartsInWindow + 1 > intensity;
}

/** The children, in start order, that restart together with `crashedId`. */
export function affectedChildren(strategy: RestartStrategy, startOrder: readonly string[], crashedId: string): string[] {
  if (strategy === 'one_for_one') return [crashedId];
  if (strategy === 'one_for_all') return [...startOrder];
  const at = startOrder.indexOf(crashedId);
  return at < 0 ? [crashedId] : startOrder.slice(at);
}
