import { compensationFor } from './compensation';

const result = (output: unknown, extra: Record<string, unknown> = {}) => ({
  output,
  output_hash: 'sha256:' + '0'.repeat(64),
  ...extra,
});

describe('compensationFor (the documented map)', () => {
  it('deletes a file the run created, restores one it overwrote, leaves others alone', () => {
    const w = { tool: 'fs.write_file', args: { path: 'n/a.md', content: 'x' } };
    expect(compensationFor(w, result({ created: true }))).toEqual({ tool: 'fs.delete', args: { path: 'n/a.md' } });
    expect(compensationFor(w, result({ previous_content: 'old' }))).toEqual({
      tool: 'fs.write_file',
      args: { path: 'n/a.md', content: 'old' },
    });
    expect(compensationFor(w, result({ bytes: 1 }))).toBeUndefined();
  });

  it('reverts a commit, closes a PR, rolls a deploy back', () => {
    expect(compensationFor({ tool: 'git.commit', args: {} }, result({ sha: 'abc' }))).toEqual({
      tool: 'git.revert',
      args: { commit: 'abc' },
    });
    expect(compensationFor({ tool: 'pr.open', args: {} }, result({ number: 12 }))).toEqual({
      tool: 'pr.close',
      args: { number: 12 },
    });
    expect(
      compensationFor({ tool: 'deploy.staging', args: { service: 'api' } }, result({ previous_version: 'v1' })),
    ).toEqual({ tool: 'deploy.staging', args: { service: 'api', version: 'v1' } });
  });

  it('proposes nothing for a failed or unknown outcome, or a tool without a compensation', () => {
    const w = { tool: 'fs.write_file', args: { path: 'a' } };
    expect(compensationFor(w, result({ created: true }, { error: { code: 'X', message: 'm' } }))).toBeUndefined();
    expect(compensationFor(w, result({ created: true }, { outcome_unknown: true }))).toBeUndefined();
    expect(compensationFor({ tool: 'email.send', args: {} }, result({ id: 'm1' }))).toBeUndefined();
  });
});
