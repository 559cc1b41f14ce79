'use strict';
/**
 * CPU time of processes from /proc (Linux only), for "CPU ms per run per process" in bench/e2e.js.
 *
 * A group's time is utime + stime of each of its processes, plus cutime + cstime (children it has
 * already reaped), so a sandbox process that exits between two samples is still counted through its
 * parent. Ticks are converted to ms with the kernel's USER_HZ (100 on Linux: 10 ms resolution, which
 * is why the figures are per run over hundreds of runs, never per single run).
 */
const fs = require('node:fs');

const TICK_MS = 10; // 1000 / USER_HZ; USER_HZ is 100 on every Linux ABI Node supports

/** `{ pid, ppid, comm, ticks, ticksSelf }` from /proc/<pid>/stat, or null when the process is gone. */
function stat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: the fields start after the last ')'
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' '); // f[0] is field 3 (state)
  const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]].map(Number);
  return { pid, ppid: Number(f[1]), comm, ticksSelf: utime + stime, ticks: utime + stime + cutime + cstime };
}

/** Every live process as `Map<pid, stat>`. */
function allProcesses() {
  const out = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s) out.set(s.pid, s);
  }
  return out;
}

/** pid and every descendant of it, from a process table. */
function descendants(root, procs) {
  const children = new Map();
  for (const p of procs.values()) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p.pid);
  }
  const out = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop();
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The pid of the process listening on TCP `port` (via /proc/net/tcp{,6} and each process's fds), or null. */
function pidListeningOn(port) {
  const inodes = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(cols[1].split(':').pop(), 16) === port) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fds = [];
    try {
      fds = fs.readdirSync(`/proc/${name}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${name}/fd/${fd}`));
        if (m && inodes.has(m[1])) return Number(name);
      } catch {
        /* gone */
      }
    }
  }
  return null;
}

/**
 * Samples named groups of processes. `groups` maps a name to a function `(procs) => pid[]` that
 * picks the group's processes from the live table at each sample (so backends and sandboxes that
 * start later are found). A pid seen in the first sample but gone in the second contributes nothing
 * (its time went to its parent's cutime, counted only if the parent is in a group).
 */
class CpuSampler {
  /** `selfOnly`: pids whose reaped children are not theirs to count (the postmaster, this process). */
  constructor(groups, selfOnly = new Set([process.pid])) {
    this.groups = groups;
    this.selfOnly = selfOnly;
  }

  /** The live pids of each group now: `{ name: [pid, …] }`. */
  pids() {
    const procs = allProcesses();
    return Object.fromEntries(Object.entries(this.groups).map(([name, pick]) => [name, pick(procs)]));
  }

  /** `{ at, machine: {busy, total}, groups: {name: Map<pid, ticks>} }` */
  sample() {
    const procs = allProcesses();
    const groups = {};
    for (const [name, pick] of Object.entries(this.groups)) {
      const m = new Map();
      for (const pid of pick(procs)) {
        const p = procs.get(pid);
        if (p) m.set(pid, this.selfOnly.has(pid) ? p.ticksSelf : p.ticks);
      }
      groups[name] = m;
    }
    return { at: performance.now(), machine: machineTicks(), groups };
  }

  /**
   * CPU ms per group between two samples: for each pid in the end sample, its ticks minus its ticks
   * at the start (0 when it started in between). Also the machine's busy ms and wall ms.
   */
  static diff(a, b) {
    const out = {};
    for (const [name, end] of Object.entries(b.groups)) {
      const start = a.groups[name] ?? new Map();
      let ticks = 0;
      for (const [pid, t] of end) ticks += Math.max(0, t - (start.get(pid) ?? 0));
      out[name] = ticks * TICK_MS;
    }
    return {
      cpu_ms: out,
      machine_busy_ms: (b.machine.busy - a.machine.busy) * TICK_MS,
      wall_ms: b.at - a.at,
    };
  }
}

/** Busy (everything but idle and iowait) and total ticks of all CPUs, from /proc/stat. */
function machineTicks() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
  return { busy: total - v[3] - v[4], total };
}

module.exports = { TICK_MS, stat, allProcesses, descendants, cmdline, pidListeningOn, CpuSampler };
