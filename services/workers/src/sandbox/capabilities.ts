import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import * as path from 'node:path';

/** What a sandbox's execution may reach: the network, and the repository (`<workspace>/.git`) writable. */
export interface SandboxKind {
  network: boolean;
  /** Git tools write the repository; for every other execution `.git` is mounted read-only. */
  repository: boolean;
}

/** How sandboxes are confined on this host, and what could not be done (each a startup warning). */
export interface SandboxPlan {
  /** argv prefix for a sandbox of this kind (put before `node sandbox-child.js`). */
  prefix(kind: SandboxKind): string[];
  /** Same as `prefix({network: true, repository: false})`. */
  withNetwork: string[];
  /** Same as `prefix({network: false, repository: false})`. */
  withoutNetwork: string[];
  /** Human-readable list of what is in force. */
  enforced: string[];
  /** One line per capability the host could not give. */
  warnings: string[];
  /** The user sandboxes run as (when the worker is root and could switch). */
  user?: { name: string; uid: number; gid: number };
  /** Removes what the plan created on the host (the worker's cgroups). */
  cleanup(): void;
}

export interface SandboxLimits {
  memoryMb: number;
  cpuSeconds: number;
  nproc: number;
  fsizeMb: number;
  /**
   * Memory of all the worker's sandboxes together (its cgroup), MB; default {@link memoryMb}. Each
   * sandbox is a Node process (~50 MB resident), so the total must cover every pool's sandboxes.
   */
  totalMemoryMb?: number;
  /**
   * Drop to this `user[:group]` (names or ids) when running as root; default
   * {@link DEFAULT_SANDBOX_USER}, created when missing.
   */
  user?: string;
  /** `NODE_ENV=production`: a root worker that cannot switch sandboxes to a user refuses to start. */
  production?: boolean;
  /** The filesystem a sandbox sees (omitted: the host's, with a warning). */
  view?: SandboxView;
}

/** What a sandbox's mount namespace contains besides the system's programs and libraries. */
export interface SandboxView {
  /** Real path of the workspace: the one writable tree (its `.git` read-only unless `repository`). */
  workspace: string;
  /** Code the sandbox runs (the worker's `dist/`, `node_modules`, the libs), mounted read-only. */
  code: string[];
  /** Other paths a tool writes (the email outbox), mounted read-write. */
  writable?: string[];
  /** Other files a tool runs (absolute `WORKER_SHELL_ALLOW` programs), mounted read-only. */
  files?: string[];
}

/**
 * The end of a sandbox's setup: the shell stays the namespace's init (root, idle) and runs the
 * sandbox as its child. Not `exec`: dropping to the sandbox user clears the parent-death signal
 * `unshare --kill-child` set, so an exec'd init would survive a worker killed with -9 (and a Node
 * stuck at start-up would never notice); the shell keeps it, and when it dies the kernel kills
 * everything in the PID namespace.
 */
const RUN_AS_CHILD = ['"$@" &', 'wait $!'];

/** The dedicated unprivileged user sandboxes switch to when the worker is root. */
export const DEFAULT_SANDBOX_USER = 'warden-sandbox';

const works = (argv: string[]): boolean => {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
};

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Files of `/etc` a sandbox gets read-only (name resolution, TLS roots, dynamic linker cache). */
const ETC_FILES = [
  'resolv.conf',
  'hosts',
  'nsswitch.conf',
  'host.conf',
  'gai.conf',
  'services',
  'protocols',
  'localtime',
  'ld.so.cache',
  'ssl',
  'ca-certificates',
];

/** uid/gid of `name` (or numeric ids), creating a system user when it is the default one and missing. */
function resolveUser(spec: string, log: string[]): { name: string; uid: number; gid: number } | undefined {
  const [user, group] = spec.split(':') as [string, string | undefined];
  const id = (args: string[]) => {
    const r = spawnSync('id', args, { encoding: 'utf8', timeout: 5000 });
    return r.status === 0 ? Number(r.stdout.trim()) : undefined;
  };
  let uid = /^\d+$/.test(user) ? Number(user) : id(['-u', user]);
  if (uid === undefined && user === DEFAULT_SANDBOX_USER) {
    const r = spawnSync(
      'useradd',
      [
        '--system',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        '--user-group',
        user,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    if (r.status === 0) log.push(`created the sandbox user ${user}`);
    uid = id(['-u', user]);
  }
  if (uid === undefined || uid === 0) return undefined;
  let gid: number | undefined;
  if (group) {
    gid = /^\d+$/.test(group)
      ? Number(group)
      : (() => {
          const r = spawnSync('getent', ['group', group], { encoding: 'utf8', timeout: 5000 });
          return r.status === 0 ? Number(r.stdout.split(':')[2]) : undefined;
        })();
  } else gid = /^\d+$/.test(user) ? uid : id(['-g', user]);
  if (gid === undefined || gid === 0) return undefined;
  return { name: user, uid, gid };
}

/** cgroup v1 directories (pids, memory) all this worker's sandboxes join, or undefined. */
function makeCgroups(limits: SandboxLimits): { dirs: string[]; what: string } | undefined {
  const name = `warden-sandbox-${process.pid}`;
  // cgroups of workers that are gone (killed before they could remove theirs)
  for (const hierarchy of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/memory']) {
    try {
      for (const d of readdirSync(hierarchy)) {
        const pid = /^warden-sandbox-(\d+)$/.exec(d)?.[1];
        if (pid && !existsSync(`/proc/${pid}`)) rmdirSync(path.join(hierarchy, d));
      }
    } catch {
      // not there, or still in use
    }
  }
  const pids = path.join('/sys/fs/cgroup/pids', name);
  const memory = path.join('/sys/fs/cgroup/memory', name);
  try {
    if (!existsSync('/sys/fs/cgroup/pids/cgroup.procs') || !existsSync('/sys/fs/cgroup/memory/cgroup.procs')) {
      return undefined;
    }
    mkdirSync(pids, { recursive: true });
    writeFileSync(path.join(pids, 'pids.max'), String(limits.nproc));
    mkdirSync(memory, { recursive: true });
    const totalMb = limits.totalMemoryMb ?? limits.memoryMb;
    writeFileSync(path.join(memory, 'memory.limit_in_bytes'), String(totalMb * 1024 * 1024));
    return {
      dirs: [pids, memory],
      what: `cgroup v1 (pids.max ${limits.nproc}, memory ${totalMb} MB, all sandboxes together)`,
    };
  } catch {
    for (const d of [pids, memory]) {
      try {
        rmdirSync(d);
      } catch {
        // never created
      }
    }
    return undefined;
  }
}

/**
 * The empty directory each sandbox mounts its own tmpfs root on (inside its mount namespace, so the
 * host never sees what is mounted there): in root-only `/run` where there is one, owned by root and
 * not a symlink (a world-writable `/tmp` could hold someone else's link).
 */
export function sandboxRootDir(): string {
  const dir = existsSync('/run') ? '/run/warden-sandbox-root' : path.join(tmpdir(), 'warden-sandbox-root');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== userInfo().uid) throw new Error(`${dir} is not a directory of this user`);
  return dir;
}

/**
 * The setup a sandbox runs as root inside its fresh mount and PID namespaces before it drops to the
 * sandbox user: an empty tmpfs root holding read-only binds of `/usr` (and the `/bin`, `/lib*`
 * links), a few `/etc` files, the worker's code, a minimal `/dev`, a fresh `/proc` (only this
 * sandbox's processes), a private `/tmp`, and the workspace read-write — then `pivot_root` and the
 * old root is detached, so nothing else of the host (its `/etc/shadow`, `var/signing.key`, other
 * workspaces, other processes' `/proc/<pid>/environ`) exists inside. Ends by running `"$@"` as its child ({@link RUN_AS_CHILD}).
 */
export function viewScript(
  view: SandboxView,
  kind: SandboxKind,
  user?: { name: string; uid: number; gid: number },
  cgroups: string[] = [],
): string {
  const R = sandboxRootDir();
  const lines = ['set -e', ...cgroups.map((d) => `echo 0 > ${q(path.join(d, 'cgroup.procs'))}`), `R=${q(R)}`];
  lines.push(
    'mount -t tmpfs -o mode=755,nosuid,nodev,size=16m warden-root "$R"',
    'cd "$R"',
    'mkdir -p usr etc dev proc tmp .old',
  );
  // one `mount` per bind: util-linux applies the flags with a remount of its own (ro needs it)
  const bind = (src: string, ro: boolean, dir: boolean) => {
    const dst = `.${src}`;
    lines.push(
      dir ? `mkdir -p ${q(dst)}` : `mkdir -p ${q(path.dirname(dst))} && : > ${q(dst)}`,
      `mount --bind -o ${ro ? 'ro,' : ''}nosuid,nodev ${q(src)} ${q(dst)}`,
    );
  };
  lines.push('mount --bind -o ro,nosuid,nodev /usr usr');
  for (const l of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const host = `/${l}`;
    let st;
    try {
      st = statSync(host);
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    let real = host;
    try {
      real = realpathSync(host);
    } catch {
      // keep
    }
    if (real.startsWith('/usr/')) lines.push(`ln -s ${q(real.slice(1))} ${l}`);
    else bind(host, true, true);
  }
  for (const f of ETC_FILES) {
    const host = `/etc/${f}`;
    if (!existsSync(host)) continue;
    bind(host, true, statSync(host).isDirectory());
  }
  // names for ids, so programs that look themselves up (git, ssh) find an entry; nothing else of /etc/passwd
  const uid = user?.uid ?? userInfo().uid;
  const gid = user?.gid ?? userInfo().gid;
  lines.push(
    `printf '%s\\n' 'root:x:0:0:root:/nonexistent:/usr/sbin/nologin' ${q(`sandbox:x:${uid}:${gid}:sandbox:/nonexistent:/usr/sbin/nologin`)} > etc/passwd`,
    `printf '%s\\n' 'root:x:0:' ${q(`sandbox:x:${gid}:`)} > etc/group`,
  );
  for (const d of ['null', 'zero', 'full', 'random', 'urandom'])
    lines.push(`: > dev/${d} && mount --bind /dev/${d} dev/${d}`);
  lines.push(
    'ln -s /proc/self/fd dev/fd && ln -s /proc/self/fd/0 dev/stdin && ln -s /proc/self/fd/1 dev/stdout && ln -s /proc/self/fd/2 dev/stderr',
    'mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m warden-tmp tmp',
  );
  for (const c of view.code) bind(c, true, statSync(c).isDirectory());
  for (const f of view.files ?? []) bind(f, true, false);
  for (const w of view.writable ?? []) bind(w, false, true);
  bind(view.workspace, false, true);
  if (!kind.repository) {
    // every execution but the git tools' own sees the repository read-only: no program an agent
    // starts can plant a config, hook or commondir there (see git.tools.ts)
    const git = path.join(view.workspace, '.git');
    lines.push(
      `if [ -d ${q(git)} ] && [ ! -L ${q(git)} ]; then mount --bind -o ro,nosuid,nodev ${q(git)} ${q('.' + git)}; fi`,
    );
  }
  lines.push(
    'mount -t proc -o nosuid,nodev,noexec proc proc',
    'mount -o remount,ro,bind "$R"',
    'PATH=/usr/sbin:/sbin:/usr/bin:/bin pivot_root . .old',
    'umount -l /.old',
    'unset OLDPWD',
    `cd ${q(view.workspace)}`,
    ...RUN_AS_CHILD,
  );
  return lines.join('\n');
}

/**
 * Probes prlimit, unshare and setpriv once and builds the wrapper each sandbox is started through:
 * `prlimit <limits> -- setpriv --pdeathsig KILL -- unshare --mount --pid --fork --kill-child [--net]
 * -- sh -c <view setup> -- setpriv --no-new-privs --bounding-set -all --reuid U ... --`. When the
 * worker is root, sandboxes switch to a dedicated user ({@link DEFAULT_SANDBOX_USER}, created when
 * missing; with `production` a worker that cannot refuses to start). Anything the host cannot do is
 * left out and reported in `warnings`, never silently.
 * @example const plan = planSandbox({ memoryMb: 2048, cpuSeconds: 300, nproc: 512, fsizeMb: 64 })
 */
export function planSandbox(limits: SandboxLimits, probe: (argv: string[]) => boolean = works): SandboxPlan {
  const enforced: string[] = [];
  const warnings: string[] = [];
  let rlimit: string[] = [];
  const rl = [
    `--as=${limits.memoryMb * 1024 * 1024}`,
    `--cpu=${limits.cpuSeconds}`,
    `--nproc=${limits.nproc}`,
    `--fsize=${limits.fsizeMb * 1024 * 1024}`,
  ];
  if (probe(['prlimit', ...rl, '--', 'true'])) {
    rlimit = ['prlimit', ...rl, '--'];
    enforced.push(
      `prlimit (memory ${limits.memoryMb} MB, cpu ${limits.cpuSeconds} s, nproc ${limits.nproc} per user, fsize ${limits.fsizeMb} MB)`,
    );
  } else {
    warnings.push(
      'prlimit is unavailable: sandboxes run WITHOUT memory/CPU/process/file-size limits (install util-linux)',
    );
  }
  const root = userInfo().uid === 0;
  const setpriv = probe(['setpriv', '--no-new-privs', '--', 'true']);

  // the user sandboxes run as
  let user: SandboxPlan['user'];
  if (root) {
    const spec = limits.user ?? DEFAULT_SANDBOX_USER;
    user = setpriv ? resolveUser(spec, enforced) : undefined;
    if (!user) {
      const why = setpriv
        ? `cannot switch sandboxes to user "${spec}" (unknown user or group, uid/gid 0, or useradd failed)`
        : 'setpriv is unavailable, so sandboxes cannot switch user';
      if (limits.production) {
        throw new Error(
          `refusing to start: the worker runs as root and ${why}; with NODE_ENV=production sandboxes never run as root (create the user or set WORKER_SANDBOX_USER)`,
        );
      }
      warnings.push(`${why}: they run as ROOT`);
    } else enforced.push(`runs as user ${user.name} (uid ${user.uid}, gid ${user.gid}), no capabilities`);
  } else if (limits.user) {
    warnings.push(`not root: cannot switch sandboxes to user "${limits.user}"; they run as uid ${userInfo().uid}`);
  }

  // namespaces: mount + PID (+ network) need root; otherwise only the network one, as before
  const nsBase = ['unshare', '--mount', '--pid', '--fork', '--kill-child', '--propagation', 'private'];
  const namespaces = root && probe([...nsBase, '--mount-proc', '--', 'true']);
  let netOnly: string[] | undefined;
  if (!namespaces) {
    if (probe(['unshare', '-n', '--', 'true'])) netOnly = ['unshare', '-n', '--'];
    else if (probe(['unshare', '-r', '-n', '--', 'true'])) netOnly = ['unshare', '-r', '-n', '--'];
    warnings.push(
      'no mount/PID namespaces (the worker is not root, or unshare is refused): sandboxes see the host filesystem and a program started with setsid can outlive its execution',
    );
    if (!netOnly) {
      warnings.push(
        'unshare -n is not permitted here (needs CAP_SYS_ADMIN or unprivileged user namespaces): tools that need no network still HAVE network',
      );
    }
  }
  const netOk = namespaces ? probe([...nsBase, '--net', '--', 'true']) : !!netOnly;
  if (netOk) enforced.push('no network for tools that need none (own network namespace)');
  else if (namespaces) warnings.push('unshare --net is refused: tools that need no network still HAVE network');

  const cg = namespaces ? makeCgroups(limits) : undefined;
  if (cg) enforced.push(cg.what);
  else if (namespaces)
    warnings.push('cgroup v1 pids/memory are not writable: process and memory limits are per-process prlimits only');
  const view = namespaces ? limits.view : undefined;
  if (namespaces) {
    enforced.push('own PID namespace (nothing an execution starts outlives it)');
    if (view)
      enforced.push('own mount namespace: only the workspace (read-write), /usr, a few /etc files and the worker code');
    else warnings.push('no sandbox view configured: sandboxes see the host filesystem');
  }

  // the last step: drop privileges (and everything setpriv can take away)
  const drop: string[] = [];
  if (setpriv) {
    drop.push('setpriv', '--no-new-privs');
    if (probe(['setpriv', '--pdeathsig', 'TERM', '--', 'true'])) drop.push('--pdeathsig', 'TERM');
    if (root) drop.push('--inh-caps', '-all', '--bounding-set', '-all');
    if (user) drop.push('--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups');
    drop.push('--');
    enforced.push('no-new-privileges');
  } else {
    warnings.push(
      "setpriv is unavailable: sandboxes keep the worker's privileges (no no-new-privileges, no user switch)",
    );
  }

  const prefix = (kind: SandboxKind): string[] => {
    if (!namespaces) return [...rlimit, ...(!kind.network && netOnly ? netOnly : []), ...drop];
    // the wrapper dies with the worker (pdeathsig), and takes the namespace's init with it (--kill-child)
    const guard = setpriv ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
    const ns = [...nsBase, ...(!kind.network && netOk ? ['--net'] : []), '--'];
    const setup = view
      ? viewScript(view, kind, user, cg?.dirs)
      : [
          ...(cg?.dirs ?? []).map((d) => `echo 0 > ${q(path.join(d, 'cgroup.procs'))}`),
          'mount -t proc -o nosuid,nodev,noexec proc /proc',
          ...RUN_AS_CHILD,
        ].join('\n');
    return [...rlimit, ...guard, ...ns, '/bin/sh', '-c', setup, 'warden-sandbox', ...drop];
  };
  return {
    prefix,
    withNetwork: prefix({ network: true, repository: false }),
    withoutNetwork: prefix({ network: false, repository: false }),
    enforced,
    warnings,
    user,
    cleanup() {
      for (const d of cg?.dirs ?? []) {
        try {
          rmdirSync(d);
        } catch {
          // still in use (a sandbox is exiting) or already gone
        }
      }
    },
  };
}

/**
 * The code a sandbox process needs, read-only: the `dist/` holding `entry`, every `node_modules`
 * above it, and the real directories its `@warden/*` links point to (the libs, not the services).
 */
export function sandboxCode(entry: string): string[] {
  const out = new Set<string>();
  let dir = path.dirname(realpathSync(entry));
  const dist = dir.split(path.sep).lastIndexOf('dist');
  if (dist > 0)
    out.add(
      dir
        .split(path.sep)
        .slice(0, dist + 1)
        .join(path.sep),
    );
  else out.add(dir);
  for (;;) {
    const nm = path.join(dir, 'node_modules');
    if (existsSync(nm)) {
      out.add(realpathSync(nm));
      const scope = path.join(nm, '@warden');
      if (existsSync(scope)) {
        for (const name of readdirSync(scope)) {
          if (name.endsWith('-service')) continue;
          out.add(realpathSync(path.join(scope, name)));
        }
      }
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return [...out];
}
