'use strict';
/** Line-prefixing of child process output, shared by `npm start`. */
const readline = require('node:readline');

const COLORS = [36, 33, 35, 32, 34, 91, 96, 93];

/** True when `stream` should get ANSI colors (a TTY, and NO_COLOR unset). */
function useColor(stream, env = process.env) {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream && stream.isTTY);
}

/**
 * Fixed-width tags (`[ingest]      `) for every name, colored when `color` is true.
 * @example makeTags(['ingest', 'orchestrator'], false).ingest // '[ingest]       '
 */
function makeTags(names, color) {
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const tags = {};
  names.forEach((name, i) => {
    const plain = `[${name}]`.padEnd(width);
    tags[name] = color ? `\x1b[${COLORS[i % COLORS.length]}m${plain}\x1b[0m` : plain;
  });
  return tags;
}

/** Copies each line of `input` to `output` with `tag ` in front. Returns the readline interface. */
function pipeWithPrefix(input, output, tag) {
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  rl.on('line', (line) => output.write(`${tag} ${line}\n`));
  return rl;
}

module.exports = { useColor, makeTags, pipeWithPrefix };
