import * as path from 'node:path';
import { ToolError } from './domain/tool';
import { fsOps } from './fs-ops';

const kind = async (p: string): Promise<'file' | 'dir' | undefined> => {
  const st = await fsOps()
    .lstat(p)
    .catch(() => undefined);
  if (!st) return undefined;
  return st.isDirectory() ? 'dir' : 'file';
};

/**
 * Refuses a write (or delete) of `target` that would make a directory of the workspace look like a
 * git repository, or that touches one: git treats any directory with a `HEAD` file and either
 * `objects/` + `refs/` or a `commondir` file as a repository (the `.git` name is not needed — a bare
 * layout is found by discovery), and such a repository's `config` can name programs (filter,
 * textconv, pager, editor, fsmonitor, sshCommand…). The worker's own git never discovers a
 * repository (see git.tools.ts), but programs an agent's `shell.exec` starts, and people, do.
 *
 * Checked for every ancestor directory of `target` up to the workspace root, counting `target` as
 * present: so a layout cannot be completed one file at a time, in any order. Ordinary files called
 * `config`, `HEAD` or `refs/…` in a directory that is not (and does not become) such a layout are
 * not refused. `.gitattributes` and `.gitmodules` are allowed: they only name drivers (`filter=x`)
 * whose commands git reads from config alone, and the worker's repository config may define none
 * (ALLOWED_REPO_CONFIG, domain/git-rules.ts); a `.gitmodules` `update = !cmd` is ignored by git since 2.24.
 * @param target absolute real path (final component not followed) inside `root`
 */
export async function refuseGitLayout(root: string, target: string, rel: string): Promise<void> {
  let dir = path.dirname(target);
  for (;;) {
    const parts = path.relative(dir, target).split(path.sep);
    const first = parts[0];
    const isHead = parts.length === 1 && first === 'HEAD';
    const head = isHead || (await kind(path.join(dir, 'HEAD'))) === 'file';
    if (head) {
      const below = (name: string) => first === name && parts.length > 1;
      const objects = below('objects') || (await kind(path.join(dir, 'objects'))) === 'dir';
      const refs = below('refs') || (await kind(path.join(dir, 'refs'))) === 'dir';
      const common = (parts.length === 1 && first === 'commondir') || !!(await kind(path.join(dir, 'commondir')));
      if (common || (objects && refs)) {
        const where = path.relative(root, dir) || 'the workspace root';
        throw new ToolError(
          'PATH.GIT_INTERNAL',
          `"${rel}": ${where} is (or would become) a git repository layout (HEAD with objects/ and refs/, or commondir); its files are git-internal — use the git tools`,
        );
      }
    }
    if (dir === root || !dir.startsWith(root)) return;
    dir = path.dirname(dir);
  }
}
