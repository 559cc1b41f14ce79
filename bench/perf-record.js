'use strict';
/**
 * On-CPU samples of the benchmark's processes with Linux `perf record -e cpu-clock` (BENCH_PERF=<dir>
 * node bench/hops.js), split per process group into what the CPU was doing.
 *
 * Why not only V8's --cpu-prof: it samples on a wall-clock timer and charges each sample the time since
 * the one before, so a process that waits for a core inside a system call (a socket write waking
 * another process on a 2-core box) shows that wait as the function's time (`writeBuffer` looked like
 * 20–45 % of every service). `cpu-clock` fires only while a thread runs, counts the kernel's share and
 * sees V8's helper threads (optimising compiler, GC) that --cpu-prof does not. JIT frames are named
 * through the `/tmp/perf-<pid>.map` files the services write with `--perf-basic-prof`.
 *
 * Categories, by the sampled function (the leaf) and thread:
 *   kernel     system calls, scheduling, network stack ([kernel.kallsyms])
 *   crypto     OpenSSL in the node binary: Ed25519, SHA-256 (signing, verifying, hashing)
 *   compile    V8 compiling: the optimising compiler (on helper threads), the parser, baseline code
 *   gc         V8 collecting garbage, on any thread
 *   user       the rest of user space: in a service, JavaScript (optimised, baseline, interpreted),
 *              V8's built-ins and runtime, Node's C++, libuv and libc; in nats-server and Postgres,
 *              everything they do outside the kernel
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const FREQ = 999;
const CATEGORIES = ['user', 'compile', 'gc', 'crypto', 'kernel'];
const CRYPTO =
  /^(ossl_|fe_|fe51_|ge_|x25519|ED25519|ed25519|sha256|SHA256|sha512|SHA512|EVP_|bn_|BN_|CRYPTO_|OPENSSL_)/;
const COMPILE =
  /(v8::internal::compiler::|v8::internal::maglev::|v8::internal::baseline::|OptimizingCompileDispatcher|v8::internal::Parser|v8::internal::Scanner|v8::internal::Compiler::|v8::internal::interpreter::BytecodeGenerator|RegisterAllocat|InstructionSelector)/;
const GC =
  /(Scaveng|MarkCompact|MinorMarkCompact|ConcurrentMarking|MarkingVisitor|MarkingWorklist|Sweeper|Evacuat|v8::internal::Heap::|RememberedSet|SlotSet|IncrementalMarking|MemoryAllocator|v8::internal::GCTracer)/;

/** Whether `perf record -e cpu-clock` can run here (perf installed and allowed). */
function available() {
  const r = spawnSync('perf', ['stat', '-e', 'cpu-clock', 'true'], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * Starts sampling `groups` ({ name: [pid, …] }) into `<dir>/perf.data`. Resolves a handle whose
 * `stop()` ends the recording and resolves when perf has written its file.
 */
async function start(dir, groups) {
  if (!available()) throw new Error('BENCH_PERF needs `perf` (Debian: linux-perf) allowed to sample: perf stat failed');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'perf.data');
  const pids = [...new Set(Object.values(groups).flat())];
  const child = spawn('perf', ['record', '-e', 'cpu-clock', '-F', String(FREQ), '-p', pids.join(','), '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // perf attaches to every thread of the processes before it samples anything
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (child.exitCode !== null) throw new Error(`perf record exited at once: ${stderr.trim()}`);
  return {
    file,
    groups,
    async stop() {
      child.kill('SIGINT');
      await exited;
      if (!fs.existsSync(file)) throw new Error(`perf record wrote nothing: ${stderr.trim()}`);
    },
  };
}

/** The category of one sample: its thread, leaf function and object. */
function categorise(sym, dso) {
  if (dso === '[kernel.kallsyms]' || dso.startsWith('[kernel')) return 'kernel';
  if (CRYPTO.test(sym) || /libcrypto/.test(dso)) return 'crypto';
  if (GC.test(sym)) return 'gc';
  if (COMPILE.test(sym)) return 'compile';
  return 'user';
}

/**
 * ms of CPU per run, per group and category: `{ group: { user, compile, gc, crypto, kernel, total } }`,
 * plus `helper threads` (the share of each group's total on threads other than its main one).
 */
function summarise(handle, runs) {
  const r = spawnSync('perf', ['script', '-i', handle.file, '-F', 'pid,tid,ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`perf script failed: ${r.stderr.slice(-500)}`);
  const groupOf = new Map();
  for (const [name, pids] of Object.entries(handle.groups)) for (const pid of pids) groupOf.set(pid, name);
  const counts = {};
  for (const line of r.stdout.split('\n')) {
    // "  1234/1240  bbe4db Builtins_LoadIC (/usr/bin/node)", "1234/1234 ffffffff8144 futex_wake ([kernel.kallsyms])"
    const m = /^\s*(\d+)\/(\d+)\s+[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const group = groupOf.get(pid);
    if (!group) continue;
    const c = (counts[group] ??= { samples: 0, helper: 0, ...Object.fromEntries(CATEGORIES.map((k) => [k, 0])) });
    c.samples++;
    if (Number(m[2]) !== pid) c.helper++;
    c[categorise(m[3], m[4])]++;
  }
  const msPerRun = (n) => Math.round(((n * 1000) / FREQ / runs) * 100) / 100;
  const out = {};
  for (const [group, c] of Object.entries(counts)) {
    out[group] = {
      ...Object.fromEntries(CATEGORIES.map((k) => [k, msPerRun(c[k])])),
      total: msPerRun(c.samples),
      'helper threads': msPerRun(c.helper),
    };
  }
  return out;
}

module.exports = { available, start, summarise, categorise };
