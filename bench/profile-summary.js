#!/usr/bin/env node
/*
 * What the .cpuprofile files of a benchmark run say (BENCH_CPU_PROF=<dir> node bench/e2e.js):
 * per profile, the wall time it covers, busy ms (every sample but "(idle)") and the functions with
 * the most self time; with --callers <name>, who calls the functions named <name> (by the time spent
 * in them and below, per caller). --skip-ms leaves out the first ms of each profile (start-up: module
 * loading, migrations), so what is left is the benchmark's load.
 *
 *   node bench/profile-summary.js <dir|file.cpuprofile> [--top 15] [--skip-ms 20000] [--callers <function name>]
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const target = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const TOP = Number(opt('top', 15));
const CALLERS = opt('callers', undefined);
const SKIP_US = Number(opt('skip-ms', 0)) * 1000;
if (!target) {
  console.error(
    'usage: node bench/profile-summary.js <dir|file.cpuprofile> [--top 15] [--skip-ms 0] [--callers <function name>]',
  );
  process.exit(2);
}

const files = fs.statSync(target).isDirectory()
  ? fs
      .readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort()
      .map((f) => path.join(target, f))
  : [target];
if (files.length === 0) console.error(`no .cpuprofile in ${target}`);

const IDLE = new Set(['(idle)']);
const ROOT = path.join(__dirname, '..');
/** `name file:line`, files under node_modules as `~/<package path>`, the rest relative to the repository. */
const label = (cf) => {
  if (!cf.url) return cf.functionName || '(anonymous)';
  const file = cf.url.replace(/^file:\/\//, '');
  const short = file.includes('/node_modules/') ? file.replace(/^.*\/node_modules\//, '~/') : path.relative(ROOT, file);
  return `${cf.functionName || '(anonymous)'} ${short}:${cf.lineNumber + 1}`;
};

for (const file of files) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // self time per node: each sample's time delta (in µs) goes to the node it hit
  const selfUs = new Map();
  let totalUs = 0;
  let idleUs = 0;
  let at = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    at += dt;
    if (at < SKIP_US) return;
    totalUs += dt;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    if (IDLE.has(nodes.get(id).callFrame.functionName)) idleUs += dt;
  });
  const busyUs = totalUs - idleUs;
  const byFunction = new Map();
  for (const [id, us] of selfUs) {
    const cf = nodes.get(id).callFrame;
    if (IDLE.has(cf.functionName)) continue;
    const key = label(cf);
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  console.log(
    `\n${path.basename(file)}: ${(totalUs / 1000).toFixed(0)} ms profiled${SKIP_US ? ` after the first ${SKIP_US / 1000} ms` : ''}, busy ${(busyUs / 1000).toFixed(0)} ms ` +
      `(${((busyUs / Math.max(1, totalUs)) * 100).toFixed(1)} %)`,
  );
  console.log('   self ms  % busy  function');
  for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(
      `${(us / 1000).toFixed(1).padStart(10)}  ${((us / Math.max(1, busyUs)) * 100).toFixed(1).padStart(6)}  ${key}`,
    );

  if (CALLERS) {
    // total time (self + below) of every node of a function named CALLERS, grouped by its caller;
    // a recursive call counts once (at its outermost frame)
    const totalOf = new Map();
    const total = (id) => {
      if (totalOf.has(id)) return totalOf.get(id);
      const n = nodes.get(id);
      const t = (selfUs.get(id) ?? 0) + (n.children ?? []).reduce((s, c) => s + total(c), 0);
      totalOf.set(id, t);
      return t;
    };
    const callers = new Map();
    for (const n of prof.nodes) {
      if (n.callFrame.functionName !== CALLERS) continue;
      const p = parent.get(n.id);
      let inner = false;
      for (let q = p; q !== undefined; q = parent.get(q))
        if (nodes.get(q).callFrame.functionName === CALLERS) inner = true;
      if (inner) continue;
      const key = p === undefined ? '(root)' : label(nodes.get(p).callFrame);
      callers.set(key, (callers.get(key) ?? 0) + total(n.id));
    }
    console.log(`   callers of ${CALLERS} (ms in it and below)`);
    if (callers.size === 0) console.log('      (not in this profile)');
    for (const [key, us] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, TOP))
      console.log(`${(us / 1000).toFixed(1).padStart(10)}  ${key}`);
  }
}
