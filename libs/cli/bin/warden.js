#!/usr/bin/env node
'use strict';
/**
 * The `warden` command (package.json "bin"): runs the built @warden/cli through its package entry.
 * Right after `npm ci` nothing is built yet; then the CLI and the libs it needs are built once
 * (`tsc -b libs/cli`, a few seconds) so `npx warden` works as it did when the CLI was plain JS.
 */
const path = require('node:path');

function load() {
  try {
    return require('@warden/cli');
  } catch (err) {
    const missing = err && err.code === 'MODULE_NOT_FOUND' && /@warden\/|[\\/]dist[\\/]/.test(String(err.message));
    if (!missing) throw err;
    const root = path.resolve(__dirname, '..', '..', '..');
    process.stderr.write('warden: building the CLI once (tsc -b libs/cli)…\n');
    const { spawnSync } = require('node:child_process');
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    const r = spawnSync(process.execPath, [tsc, '-b', path.join(root, 'libs', 'cli')], { stdio: 'inherit' });
    if (r.status !== 0) {
      process.stderr.write('warden: the build failed; run npm run build\n');
      process.exit(1);
    }
    return require('@warden/cli');
  }
}

load()
  .runCli()
  .catch((err) => {
    process.stderr.write(`warden: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  });
