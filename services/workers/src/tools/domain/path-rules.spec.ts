import { ToolError } from './tool';
import { assertRealAsJudged, judgedKey, refuseGitInternal, workspaceRelative } from './path-rules';

const ROOT = '/w/ws';

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof ToolError ? err.code : 'not a ToolError';
  }
}

describe('refuseGitInternal', () => {
  it('given a path through a .git directory (any letter case), then it is refused PATH.GIT_INTERNAL', () => {
    expect(codeOf(() => refuseGitInternal(ROOT, '/w/ws/.git/config', '.git/config'))).toBe('PATH.GIT_INTERNAL');
    expect(codeOf(() => refuseGitInternal(ROOT, '/w/ws/sub/.GIT/hooks/pre-commit', 'sub/.GIT/hooks/pre-commit'))).toBe(
      'PATH.GIT_INTERNAL',
    );
  });

  it('given files that only look like git files, then they pass', () => {
    expect(codeOf(() => refuseGitInternal(ROOT, '/w/ws/.gitignore', '.gitignore'))).toBeUndefined();
    expect(codeOf(() => refuseGitInternal(ROOT, '/w/ws/docs/git/config', 'docs/git/config'))).toBeUndefined();
  });

  it('given a workspace that itself sits under a .git directory, then only the part below the root counts', () => {
    expect(codeOf(() => refuseGitInternal('/srv/.git/ws', '/srv/.git/ws/a.txt', 'a.txt'))).toBeUndefined();
  });
});

describe('workspaceRelative', () => {
  it('names a real path below the root with / separators, and the root as .', () => {
    expect(workspaceRelative(ROOT, '/w/ws/prod/x')).toBe('prod/x');
    expect(workspaceRelative(ROOT, ROOT)).toBe('.');
  });
});

describe('judgedKey', () => {
  it('normalises as policy does: . segments, doubled and trailing slashes, backslashes', () => {
    expect(judgedKey('./notes//a.md/')).toBe('notes/a.md');
    expect(judgedKey('notes\\a.md')).toBe('notes/a.md');
    expect(judgedKey('.')).toBe('.');
  });
});

describe('assertRealAsJudged', () => {
  const judged = { resolved_paths: { 'vlink/x': 'prod/x', 'notes/a.md': 'notes/a.md' } };

  it('given the path still leads where the decision judged it, then it passes', () => {
    expect(codeOf(() => assertRealAsJudged(ROOT, '/w/ws/prod/x', 'vlink/x', judged))).toBeUndefined();
    expect(codeOf(() => assertRealAsJudged(ROOT, '/w/ws/notes/a.md', './notes/a.md', judged))).toBeUndefined();
  });

  it('given a link changed since the decision, then it is refused PATH.CHANGED_SINCE_DECISION', () => {
    expect(codeOf(() => assertRealAsJudged(ROOT, '/w/ws/staging/x', 'vlink/x', judged))).toBe(
      'PATH.CHANGED_SINCE_DECISION',
    );
    // a path the decision did not list was judged as itself
    expect(codeOf(() => assertRealAsJudged(ROOT, '/w/ws/prod/y', 'notes/y', judged))).toBe(
      'PATH.CHANGED_SINCE_DECISION',
    );
  });

  it('given a decision that resolved no paths, then nothing is compared', () => {
    expect(codeOf(() => assertRealAsJudged(ROOT, '/w/ws/anywhere', 'vlink/x', undefined))).toBeUndefined();
    expect(
      codeOf(() => assertRealAsJudged(ROOT, '/w/ws/anywhere', 'vlink/x', { resolved_paths: null })),
    ).toBeUndefined();
  });
});
