import * as path from 'node:path';
import { scrubbedEnv } from './environment';
import { resolveLexically } from './path-rules';
import { ToolError } from './tool';

/*
 * The git tools' rules that need no repository: which flags each operation takes, force in every
 * spelling, pathspecs, the repository config allow-list, and the argv and environment every git run
 * gets. Running git (and reading the repository's config) is in ../git.tools.ts.
 */

/** Flags each operation accepts; anything else (and every form of force) is refused. */
export const GIT_FLAGS: Record<string, readonly string[]> = {
  status: ['--short', '--branch', '--untracked-files=no', '--untracked-files=normal', '--untracked-files=all'],
  diff: ['--cached', '--staged', '--stat', '--name-only', '--name-status', '--no-color', '--numstat'],
  add: ['--all', '-A', '--update', '-u', '--intent-to-add', '-N'],
  commit: ['--allow-empty', '--signoff'],
  push: ['--set-upstream', '-u', '--tags', '--dry-run'],
  branch: ['--list', '--all', '-a', '--remotes', '-r', '--show-current'],
  revert: ['--signoff'],
};
const FORCE =
  /^(-f|--force.*|\+.*|--mirror|--delete|-d|-D|--no-verify|--amend|-c|--exec.*|--upload-pack.*|--receive-pack.*)$/;

/** Refuses every flag of `op` that is a form of force (`GIT.FORCE_REFUSED`) or not on its allow-list (`GIT.FLAG_REFUSED`). */
export function checkFlags(op: string, flags: readonly string[]): void {
  const allowed = GIT_FLAGS[op] ?? [];
  for (const f of flags) {
    if (FORCE.test(f)) throw new ToolError('GIT.FORCE_REFUSED', `git ${op}: "${f}" is never allowed`);
    if (!allowed.includes(f)) {
      throw new ToolError('GIT.FLAG_REFUSED', `git ${op}: flag "${f}" is not allowed (allowed: ${allowed.join(' ')})`);
    }
  }
}

/** Workspace-relative pathspecs, each checked lexically (git itself refuses paths outside the repository). */
export function pathspecs(root: string, paths: readonly string[]): string[] {
  return paths.map((p) => {
    const abs = resolveLexically(root, p);
    if (abs.split('/').includes('.git')) throw new ToolError('PATH.GIT_INTERNAL', `"${p}" is inside .git`);
    return abs === root ? '.' : abs.slice(root.length + 1);
  });
}

/**
 * The worker's repository is `<workspace>/.git`, always named explicitly (`--git-dir` and
 * `--work-tree`, `GIT_DIR`/`GIT_WORK_TREE`): git never discovers a repository, so a bare-repository
 * layout planted at the workspace root (or anywhere in it) is never used, and neither is a parent
 * checkout the workspace happens to sit in. Why there and not in a directory of the worker's own:
 * it is the repository operators already have in their workspaces, the file tools refuse every
 * path through `.git`, and in a sandbox it is mounted read-only for every execution except the git
 * tools' own (see sandbox/capabilities.ts), so no program an agent starts can write its config.
 * Because that last wall is missing when sandboxes are degraded or `WORKER_SANDBOX=inline`, every
 * run also (1) checks the repository's config against {@link ALLOWED_REPO_CONFIG} — anything that
 * can name a program (filter/diff/merge drivers, includes, core.* commands, url rewrites) is
 * refused before git starts — and (2) overrides each code-executing key on the command line, which
 * wins over any config file.
 */
export const gitDir = (root: string): string => path.join(root, '.git');

/**
 * Repository config keys git may find in `<workspace>/.git/config` (lower-cased; `*` one
 * subsection). Everything else is refused (`GIT.CONFIG_REFUSED`), because the keys that run
 * programs (`filter.<x>.clean`, `diff.<x>.textconv`, `merge.<x>.driver`, `include.path`,
 * `core.sshCommand`, …) have open-ended names no command-line override can list.
 */
export const ALLOWED_REPO_CONFIG: readonly RegExp[] = [
  /^core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|symlinks|autocrlf|eol|safecrlf|quotepath|trustctime|checkstat|abbrev)$/,
  /^extensions\.objectformat$/,
  /^remote\.[^\n]+\.(url|pushurl|fetch|tagopt|prune)$/,
  /^branch\.[^\n]+\.(remote|merge|rebase|pushremote|description)$/,
  /^user\.(name|email)$/,
  /^init\.defaultbranch$/,
  /^(color|advice|i18n|status|log)\.[a-z]+$/,
  /^(gc\.auto|push\.default|pull\.rebase)$/,
];

/** `-c` settings that switch off every way git runs a program or a helper (they win over config files). */
export const HARDENING: readonly string[] = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.pager=cat',
  'core.editor=true',
  'sequence.editor=true',
  'core.askPass=/bin/false',
  'core.sshCommand=ssh -o BatchMode=yes',
  'core.gitProxy=none',
  'core.attributesFile=/dev/null',
  'credential.helper=',
  'diff.external=',
  'commit.gpgSign=false',
  'tag.gpgSign=false',
  'gpg.program=/bin/false',
  'submodule.recurse=false',
  'diff.ignoreSubmodules=all',
  'status.submoduleSummary=false',
  'push.recurseSubmodules=no',
  'protocol.allow=never',
  'protocol.ext.allow=never',
];

/** The environment of every git run: no system/global config, nothing to prompt, page or edit with. */
export function gitEnv(root: string): Record<string, string> {
  return scrubbedEnv({
    GIT_DIR: gitDir(root),
    GIT_WORK_TREE: root,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_SYSTEM: '/dev/null',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    XDG_CONFIG_HOME: '/nonexistent',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    GIT_PAGER: 'cat',
    PAGER: 'cat',
    GIT_EDITOR: 'true',
    GIT_SEQUENCE_EDITOR: 'true',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_LITERAL_PATHSPECS: '1',
    // as if protocol.allow=never with these always allowed; `ext::` (runs a command) never
    GIT_ALLOW_PROTOCOL: 'https:http:ssh:git:file',
    GIT_PROTOCOL_FROM_USER: '0',
  });
}

/**
 * Refuses force in any spelling before schema parsing, so the refusal names it. The one safe form,
 * `force_with_lease` on `git.push` (what the policy's `force_with_lease` recipe makes of a force
 * push), is left to the schema.
 */
export function refuseForce(op: string, raw: Record<string, unknown>): void {
  for (const k of Object.keys(raw)) {
    if (op === 'push' && k === 'force_with_lease') continue;
    if (/force/i.test(k)) throw new ToolError('GIT.FORCE_REFUSED', `git ${op}: "${k}" is never allowed`);
  }
}

/** True if a key of the repository config (any letter case) is on {@link ALLOWED_REPO_CONFIG}. */
export function repoConfigKeyAllowed(key: string): boolean {
  return ALLOWED_REPO_CONFIG.some((re) => re.test(key.toLowerCase()));
}

/** The identity a git run commits as (the worker's `git.authorName`/`git.authorEmail` settings). */
export interface GitIdentity {
  authorName: string;
  authorEmail: string;
}

/**
 * The argv of a git run on the worker's repository ({@link gitDir}, never discovered) with the
 * workspace `root` as its work tree, every {@link HARDENING} override and the worker's identity
 * before the operation's own `args`.
 */
export function gitArgv(root: string, identity: GitIdentity, args: readonly string[]): string[] {
  return [
    'git',
    '--no-pager',
    '--no-replace-objects',
    '--literal-pathspecs',
    `--git-dir=${gitDir(root)}`,
    `--work-tree=${root}`,
    '-c',
    `safe.directory=${root}`,
    ...HARDENING.flatMap((kv) => ['-c', kv]),
    '-c',
    `user.name=${identity.authorName}`,
    '-c',
    `user.email=${identity.authorEmail}`,
    ...args,
  ];
}
