import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { userInfo } from 'node:os';
import * as path from 'node:path';
import type { McpServer } from '@warden/runtime';

/** The limits a stdio upstream server runs under (the workers' sandbox limits, `WORKER_SANDBOX_*`). */
export interface LaunchLimits {
  memoryMb: number;
  cpuSeconds: number;
  nproc: number;
  fsizeMb: number;
  /** `user[:group]` to switch to when the worker is root (`WORKER_SANDBOX_USER`); unset: the worker's user. */
  user?: string;
}

/** How a stdio server is started, and what the host could not give it (each a startup warning). */
export interface Launch {
  command: string;
  args: string[];
  cwd?: string;
  warnings: string[];
}

/** The environment a stdio server starts with: nothing of the worker's (no keys, no database URL). */
export const UPSTREAM_BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'C.UTF-8',
  HOME: '/nonexistent',
  NODE_ENV: 'production',
  TMPDIR: '/tmp',
};

const probeCache = new Map<string, boolean>();
function works(argv: string[]): boolean {
  const key = argv.join('\0');
  let ok = probeCache.get(key);
  if (ok === undefined) {
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 5000 });
    probeCache.set(key, (ok = r.status === 0));
  }
  return ok;
}

/** An absolute path for a command name: `node` is this Node; other bare names are looked up in the worker's PATH. */
export function resolveCommand(command: string, cwd: string, envPath = process.env.PATH ?? ''): string {
  if (command === 'node') return process.execPath;
  if (command.includes('/')) return path.resolve(cwd, command);
  for (const dir of envPath.split(':').filter(Boolean)) {
    const p = path.join(dir, command);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return command;
}

/**
 * The argv a stdio upstream server is started with: `prlimit <WORKER_SANDBOX_* limits> -- setpriv
 * --no-new-privs --pdeathsig KILL [--reuid U --regid G --clear-groups] -- env -i <base env + the
 * server's env> <command> <args>`. It does not get the tool sandboxes' mount/PID/network namespaces
 * (a long-lived server needs its own files and, for most, the network): what it cannot get is
 * returned as warnings, never silently.
 * @example launchStdio(server, { memoryMb: 2048, cpuSeconds: 300, nproc: 512, fsizeMb: 64 }).args
 */
export function launchStdio(
  server: Extract<McpServer, { transport: 'stdio' }>,
  limits: LaunchLimits,
  probe: (argv: string[]) => boolean = works,
): Launch {
  const warnings: string[] = [];
  const cwd = server.cwd ?? process.cwd();
  const argv: string[] = [];
  const rl = [
    `--as=${limits.memoryMb * 1024 * 1024}`,
    `--cpu=${limits.cpuSeconds}`,
    `--nproc=${limits.nproc}`,
    `--fsize=${limits.fsizeMb * 1024 * 1024}`,
  ];
  if (probe(['prlimit', ...rl, '--', 'true'])) argv.push('prlimit', ...rl, '--');
  else warnings.push(`MCP server ${server.name}: prlimit is unavailable, it runs without memory/CPU/process limits`);
  if (probe(['setpriv', '--no-new-privs', '--pdeathsig', 'KILL', '--', 'true'])) {
    argv.push('setpriv', '--no-new-privs', '--pdeathsig', 'KILL');
    const root = userInfo().uid === 0;
    if (root && limits.user) {
      const [u, g] = limits.user.split(':') as [string, string | undefined];
      const id = (args: string[]) => {
        const r = spawnSync('id', args, { encoding: 'utf8', timeout: 5000 });
        return r.status === 0 ? r.stdout.trim() : undefined;
      };
      const uid = /^\d+$/.test(u) ? u : id(['-u', u]);
      const gid = g ?? (/^\d+$/.test(u) ? u : id(['-g', u]));
      if (uid && gid && uid !== '0') argv.push('--reuid', uid, '--regid', gid, '--clear-groups');
      else warnings.push(`MCP server ${server.name}: cannot switch to user "${limits.user}"; it runs as root`);
    } else if (root) {
      warnings.push(
        `MCP server ${server.name}: runs as root (set WORKER_SANDBOX_USER to give it an unprivileged user)`,
      );
    }
    argv.push('--');
  } else {
    warnings.push(`MCP server ${server.name}: setpriv is unavailable (no no-new-privileges, no user switch)`);
  }
  const env = { ...UPSTREAM_BASE_ENV, ...server.env };
  argv.push(
    '/usr/bin/env',
    '-i',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    resolveCommand(server.command, cwd),
    ...server.args,
  );
  warnings.push(
    `MCP server ${server.name}: runs with the sandbox limits and a scrubbed environment, but without the tool sandboxes' mount, PID and network namespaces`,
  );
  return { command: argv[0]!, args: argv.slice(1), cwd, warnings };
}
