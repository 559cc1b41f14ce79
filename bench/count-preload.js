'use strict';
/*
 * Counts what a run is made of, in the process it is preloaded into (`node --require
 * bench/count-preload.js`; bench/hops.js does it with BENCH_COUNT=1): Ed25519 verifications and
 * signatures, socket writes by remote port (each one a wake-up of another process), and requests
 * handed to libuv's thread pool by type. On SIGUSR2 it writes the totals so far to
 * $BENCH_COUNT_DIR/<pid>.json. Counting by wrapping, not sampling: a CPU profile on a busy 2-core box
 * charges the time a process waits for a core to whatever it was doing.
 * Diagnostic only: the async hook slows the process a little.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { createHook } = require('node:async_hooks');

const counts = { verify: 0, sign: 0, writes: {}, threadPool: {} };

const { verify, sign } = crypto;
crypto.verify = function countedVerify(...args) {
  counts.verify++;
  return verify.apply(this, args);
};
crypto.sign = function countedSign(...args) {
  counts.sign++;
  return sign.apply(this, args);
};

// _writev calls _writeGeneric too: one count per write to the kernel either way. Sockets only: NATS,
// Postgres, Redis, HTTP (a worker's IPC channel to its sandboxes is not a net.Socket: not counted)
const writeGeneric = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function countedWrite(...args) {
  const to = this.remotePort ? String(this.remotePort) : 'pipe';
  counts.writes[to] = (counts.writes[to] ?? 0) + 1;
  return writeGeneric.apply(this, args);
};

// what goes through the thread pool (sign/verify/random bytes run synchronously here, so not counted)
const POOLED = new Set([
  'FSREQPROMISE',
  'FSREQCALLBACK',
  'GETADDRINFOREQWRAP',
  'GETNAMEINFOREQWRAP',
  'PBKDF2REQUEST',
  'SCRYPTREQUEST',
  'ZLIB',
]);
createHook({
  init(_id, type) {
    if (POOLED.has(type)) counts.threadPool[type] = (counts.threadPool[type] ?? 0) + 1;
  },
}).enable();

process.on('SIGUSR2', () => {
  const dir = process.env.BENCH_COUNT_DIR;
  if (dir) fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(counts));
});
