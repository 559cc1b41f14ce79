import type { Action, RunResult } from '@warden/contracts';

/**
 * The compensating action for a flagged review item, when the tool has one. Pure; the result is
 * proposed as a NEW run, so the policy judges it like any other proposal.
 *
 * | flagged action | when | compensation |
 * |---|---|---|
 * | `fs.write_file {path}` | the run created the file (`output.created: true`) | `fs.delete {path}` |
 * | `fs.write_file {path}` | it overwrote a file whose old content it reported (`output.previous_content`) | `fs.write_file {path, content: previous}` |
 * | `git.commit` | the output names the commit (`output.commit` / `output.sha`) | `git.revert {commit}` |
 * | `pr.open` | the output names the PR (`output.number` / `output.id` / `output.url`) | `pr.close {…same}` |
 * | `deploy.staging` / `deploy.canary` | the output names the previous release (`output.previous_version`) | same tool `{…args, version: previous}` |
 *
 * Anything else (reads, sends, failed runs) has no compensation: flagging records the verdict only.
 * @example compensationFor({ tool: 'fs.write_file', args: { path: 'a' } }, { output: { created: true }, ... })
 */
export function compensationFor(action: Action, result: RunResult): Action | undefined {
  if (result.error || result.outcome_unknown) return undefined;
  const out = (result.output ?? {}) as Record<string, unknown>;
  const args = action.args;
  switch (action.tool) {
    case 'fs.write_file': {
      if (typeof args.path !== 'string') return undefined;
      if (out.created === true || out.existed === false) return { tool: 'fs.delete', args: { path: args.path } };
      if (typeof out.previous_content === 'string')
        return { tool: 'fs.write_file', args: { path: args.path, content: out.previous_content } };
      return undefined;
    }
    case 'git.commit': {
      const commit = typeof out.commit === 'string' ? out.commit : typeof out.sha === 'string' ? out.sha : undefined;
      return commit ? { tool: 'git.revert', args: { commit } } : undefined;
    }
    case 'pr.open': {
      const ref = ['number', 'id', 'url'].find((k) => typeof out[k] === 'string' || typeof out[k] === 'number');
      return ref ? { tool: 'pr.close', args: { [ref]: out[ref] } } : undefined;
    }
    case 'deploy.staging':
    case 'deploy.canary':
      return typeof out.previous_version === 'string'
        ? { tool: action.tool, args: { ...args, version: out.previous_version } }
        : undefined;
    default:
      return undefined;
  }
}
