// The names stats() and metrics() keep a pool's per-tool figures under. They are bounded: calls
// to thousands of distinct names (typos, names a client makes up) would otherwise grow
// stats().tools and every /metrics scrape without end.
import { ErrorCode } from '../errors.js';

/** Distinct tool names a pool keeps figures for; calls to any later name share OTHER_TOOLS. */
export const MAX_TOOL_LABELS = 100;
/** Calls to a tool the adapter does not have (TOOL_NOT_FOUND) are counted under this one name. */
export const UNKNOWN_TOOL = '(unknown)';
export const OTHER_TOOLS = '(other)';

export class ToolLabels {
  /** Names taken so far, for the life of the pool (a stats reset keeps them: metrics are cumulative). */
  private readonly names = new Set<string>();

  /** The label of a call to `tool` whose outcome is `code` (undefined: ok). */
  label(tool: string, code: string | undefined): string {
    if (code === ErrorCode.TOOL_NOT_FOUND) return UNKNOWN_TOOL;
    if (this.names.has(tool)) return tool;
    if (this.names.size >= MAX_TOOL_LABELS) return OTHER_TOOLS;
    this.names.add(tool);
    return tool;
  }
}
