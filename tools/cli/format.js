'use strict';
/** Output helpers shared by the `warden` command groups: plain-text tables and `--json`. */

/**
 * Rows of cells as left-aligned columns two spaces apart, no trailing blanks and no colors (so it
 * pipes cleanly); no final newline.
 * @example table([['ID', 'NAME'], ['k1', 'ci']]) // 'ID  NAME\nk1  ci'
 */
function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => String(c).padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Writes `value` as indented JSON when `json`, else `text`; then a newline. */
function out(io, value, json, text) {
  io.stdout.write(`${json ? JSON.stringify(value, null, 2) : text}\n`);
}

module.exports = { table, out };
