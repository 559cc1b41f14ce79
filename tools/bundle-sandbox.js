#!/usr/bin/env node
/*
 * Bundles the built sandbox (services/workers/dist/sandbox/sandbox-child.js and every module it
 * loads) into one file with esbuild, records what it was made from (a sha256 per input), and makes
 * V8's code cache of it by starting it once (sandbox-loader.js --write-code-cache). The worker starts
 * sandboxes from the bundle only while every input still has the recorded hash; otherwise (a rebuild
 * without this step) from the plain modules, as before. Run after `tsc -b tsconfig.build.json`
 * (`npm run build` and `npm test` do).
 *
 * Why esbuild rather than nothing: a sandbox start spent ~120 ms of its ~350 ms of CPU resolving,
 * reading and compiling some 170 modules; one file with a code cache takes ~230 ms in all.
 */
'use strict';
const { spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIR = path.join(ROOT, 'services', 'workers', 'dist', 'sandbox');
const { BUNDLE, CODE_CACHE, MANIFEST } = require(path.join(DIR, 'bundle-files.js'));

async function main() {
  const esbuild = require('esbuild');
  for (const f of [BUNDLE, CODE_CACHE, MANIFEST]) fs.rmSync(path.join(DIR, f), { force: true });
  const result = await esbuild.build({
    entryPoints: [path.join(DIR, 'sandbox-child.js')],
    outfile: path.join(DIR, BUNDLE),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
    absWorkingDir: ROOT,
  });
  const inputs = {};
  for (const input of Object.keys(result.metafile.inputs).sort()) {
    const file = path.resolve(ROOT, input);
    inputs[path.relative(DIR, file)] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  await writeCodeCache();
  // last: the worker uses the bundle only when this exists and matches
  fs.writeFileSync(path.join(DIR, MANIFEST), JSON.stringify({ inputs }, null, 1) + '\n');
  const kb = (f) => Math.round(fs.statSync(path.join(DIR, f)).size / 1024);
  console.log(
    `bundled the sandbox: ${Object.keys(inputs).length} modules, ${kb(BUNDLE)} KiB, code cache ${kb(CODE_CACHE)} KiB`,
  );
}

/** Starts the bundle once, as a worker would, and lets it write its code cache. */
function writeCodeCache() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(DIR, 'sandbox-loader.js'), '--write-code-cache'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('message', (m) => {
      if (m && m.ready) child.disconnect();
    });
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      if (fs.existsSync(path.join(DIR, CODE_CACHE))) resolve();
      else reject(new Error('the sandbox bundle did not start (no code cache written)'));
    });
  });
}

main().catch((err) => {
  console.error(`bundle-sandbox: ${err.stack ?? err.message}`);
  process.exit(1);
});
