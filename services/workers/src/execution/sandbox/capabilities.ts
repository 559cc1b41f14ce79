import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';

/** How sandboxes are confined on this host, and what could not be done (each a startup warning). */
export interface SandboxPlan {
  /** argv prefix for a sandbox that needs the network. */
  withNetwork: string[];
  /** argv prefix for a sandbox without a network namespace of its own... i.e. with no network. */
  withoutNetwork: string[];
  /** Human-readable list of what is in force. */
  enforced: string[];
  /** One line per capability the host could not give. */
  warnings: string[];
}

export interface SandboxLimits {
  memoryMb: number;
  cpuSeconds: number;
  nproc: number;
  fsizeMb: number;
  /** Drop to this `user[:group]` (names or ids) when running as root. */
  user?: string;
}

const works = (argv: string[]): boolean => {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
};

/**
 * Probes prlimit, unshare and setpriv once and builds the wrapper each sandbox is started through:
 * `prlimit <limits> -- [unshare -n --] setpriv --no-new-privs --pdeathsig TERM [--reuid ...] --`.
 * Anything the host cannot do is left out and reported in `warnings`, never silently.
 * @example const plan = planSandbox({ memoryMb: 2048, cpuSeconds: 300, nproc: 512, fsizeMb: 64 })
 */
export function planSandbox(limits: SandboxLimits, probe: (argv: string[]) => boolean = works): SandboxPlan {
  const enforced: string[] = [];
  const warnings: string[] = [];
  let prefix: string[] = [];
  const rl = [
    `--as=${limits.memoryMb * 1024 * 1024}`,
    `--cpu=${limits.cpuSeconds}`,
    `--nproc=${limits.nproc}`,
    `--fsize=${limits.fsizeMb * 1024 * 1024}`,
  ];
  if (probe(['prlimit', ...rl, '--', 'true'])) {
    prefix = ['prlimit', ...rl, '--'];
    enforced.push(
      `prlimit (memory ${limits.memoryMb} MB, cpu ${limits.cpuSeconds} s, nproc ${limits.nproc}, fsize ${limits.fsizeMb} MB)`,
    );
  } else {
    warnings.push(
      'prlimit is unavailable: sandboxes run WITHOUT memory/CPU/process/file-size limits (install util-linux)',
    );
  }
  let unshare: string[] | undefined;
  if (probe(['unshare', '-n', '--', 'true'])) unshare = ['unshare', '-n', '--'];
  else if (probe(['unshare', '-r', '-n', '--', 'true'])) unshare = ['unshare', '-r', '-n', '--'];
  if (unshare) enforced.push(`no network for tools that need none (${unshare.slice(0, -1).join(' ')})`);
  else {
    warnings.push(
      'unshare -n is not permitted here (needs CAP_SYS_ADMIN or unprivileged user namespaces): tools that need no network still HAVE network',
    );
  }
  const root = userInfo().uid === 0;
  const setpriv: string[] = [];
  if (probe(['setpriv', '--no-new-privs', '--', 'true'])) {
    setpriv.push('setpriv', '--no-new-privs');
    // TERM, not KILL: the sandbox handles it by killing its whole process group
    if (probe(['setpriv', '--pdeathsig', 'TERM', '--', 'true'])) setpriv.push('--pdeathsig', 'TERM');
    enforced.push('no-new-privileges');
    if (limits.user && root) {
      const [user, group] = limits.user.split(':');
      const asUser = ['--reuid', user!, '--regid', group ?? user!, '--clear-groups'];
      if (probe(['setpriv', ...asUser, '--', 'true'])) {
        setpriv.push(...asUser);
        enforced.push(`runs as user ${limits.user}`);
      } else {
        warnings.push(`cannot switch sandboxes to user "${limits.user}" (unknown user or group?): they run as root`);
      }
    } else if (root) {
      warnings.push(
        'the worker runs as root and WORKER_SANDBOX_USER is unset: sandboxes run as root (set a dedicated user)',
      );
    } else if (limits.user) {
      warnings.push(`not root: cannot switch sandboxes to user "${limits.user}"; they run as uid ${userInfo().uid}`);
    }
    setpriv.push('--');
  } else {
    warnings.push(
      "setpriv is unavailable: sandboxes keep the worker's privileges (no no-new-privileges, no user switch)",
    );
  }
  return {
    withNetwork: [...prefix, ...setpriv],
    withoutNetwork: [...prefix, ...(unshare ?? []), ...setpriv],
    enforced,
    warnings,
  };
}
