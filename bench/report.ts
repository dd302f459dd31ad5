/**
 * Number and table formatting shared by the sections, so their output lines up the same way.
 */

/** Fixed digits with thousands separators; 'n/a' for NaN/Infinity (e.g. RSS unreadable). */
export const fmt = (v: number, digits = 0) =>
  Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';

/**
 * Plain-text table: first column left-aligned (labels), the rest right-aligned (figures),
 * except the columns listed in `leftColumns` (text).
 */
export function table(headers: string[], rows: string[][], leftColumns: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = new Set([0, ...leftColumns]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The first lines of an error's stack, indented under a "NOT MEASURED" line. */
export const errorExcerpt = (text: string): string => text.split('\n').slice(0, 6).join('\n    ');

/**
 * Each round in its own slot of a fixed rotation, so no path always runs first or last
 * (the machine is shared and noisy).
 */
export const rotated = <T>(items: T[], round: number): T[] => items.map((_, i) => items[(i + round) % items.length]!);
