import type { Io } from './io';

/** A table cell: anything printable. */
export type Cell = string | number | boolean | null | undefined;

/**
 * Rows of cells as left-aligned columns two spaces apart, no trailing blanks and no colors (so it
 * pipes cleanly); no final newline.
 * @example table([['ID', 'NAME'], ['k1', 'ci']]) // 'ID  NAME\nk1  ci'
 */
export function table(rows: readonly (readonly Cell[])[]): string {
  const first = rows[0] ?? [];
  const widths = first.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => String(c).padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Writes `value` as indented JSON when `json`, else `text`; then a newline. */
export function out(io: Io, value: unknown, json: boolean | undefined, text: string): void {
  io.stdout.write(`${json ? JSON.stringify(value, null, 2) : text}\n`);
}

/** Indented JSON and a newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
