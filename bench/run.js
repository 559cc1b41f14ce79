#!/usr/bin/env node
/*
 * Runs every benchmark, one after another (they share two cores, so never in parallel):
 *   npm run bench                      all of them
 *   npm run bench -- --only policy,e2e  a subset (names are bench/<name>.js)
 * Other options pass through to each script (e.g. --duration 10). Each script prints its own table and
 * writes bench/results/<name>.json; a failing script makes the run fail, after the others have run.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ORDER = ['policy', 'ingest', 'workers', 'approvals', 'slack', 'e2e', 'mcp', 'client'];
const argv = process.argv.slice(2);
const onlyAt = argv.indexOf('--only');
const only = onlyAt === -1 ? undefined : String(argv[onlyAt + 1] ?? '').split(',');
const passThrough = onlyAt === -1 ? argv : [...argv.slice(0, onlyAt), ...argv.slice(onlyAt + 2)];

const names = ORDER.filter((n) => fs.existsSync(path.join(__dirname, `${n}.js`))).filter(
  (n) => !only || only.includes(n),
);
if (only) for (const n of only) if (!names.includes(n)) console.error(`bench: no benchmark named "${n}"`);

const failed = [];
for (const name of names) {
  console.log(`\n=== bench: ${name} ===`);
  const r = spawnSync(process.execPath, [path.join(__dirname, `${name}.js`), ...passThrough], { stdio: 'inherit' });
  if (r.status !== 0) failed.push(`${name} (exit ${r.status ?? r.signal})`);
}
console.log(`\nbench: ran ${names.join(', ')}; results in bench/results/`);
if (failed.length) {
  console.error(`bench: failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
