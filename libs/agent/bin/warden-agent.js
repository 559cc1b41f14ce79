#!/usr/bin/env node
'use strict';
/**
 * `warden-agent run --goal …` (package.json "bin"; the same command as `warden agent run`): runs the
 * built @warden/agent through its package entry. A committed JS file, so it is executable right after
 * `npm install`; when nothing is built yet it builds the package once (`tsc -b libs/agent`).
 */
const path = require('node:path');

function load() {
  try {
    return require('@warden/agent');
  } catch (err) {
    const missing = err && err.code === 'MODULE_NOT_FOUND' && /@warden\/|[\\/]dist[\\/]/.test(String(err.message));
    if (!missing) throw err;
    const root = path.resolve(__dirname, '..', '..', '..');
    process.stderr.write('warden-agent: building @warden/agent once (tsc -b libs/agent)…\n');
    const { spawnSync } = require('node:child_process');
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    const r = spawnSync(process.execPath, [tsc, '-b', path.join(root, 'libs', 'agent')], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
    return require('@warden/agent');
  }
}

load()
  .runAgentCommand(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`warden-agent: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
