import {
  CONSTRAINTS,
  DEFAULT_ROLE_TOOLS,
  WORKER_CONSTRAINTS,
  envAllowed,
  executableIssues,
  toolArgsSchema,
} from './tools';

describe('tool argument schemas (one definition for workers and policy)', () => {
  it('knows every fixed tool, deploy.<target> by pattern, and nothing else', () => {
    // each known tool's schema accepts its own arguments and names a wrong field
    expect(toolArgsSchema('email.draft')!.safeParse({ to: 'a@example.com', subject: 's', text: 'b' }).success).toBe(
      true,
    );
    expect(toolArgsSchema('email.draft')!.safeParse({ to: 'a@example.com', bogus: 1 }).success).toBe(false);
    expect(toolArgsSchema('deploy.staging')!.safeParse({ ref: 'v1' }).success).toBe(true);
    expect(toolArgsSchema('deploy.canary')).not.toBe(toolArgsSchema('deploy.staging'));
    expect(toolArgsSchema('deploy.Bad')).toBeUndefined();
    expect(toolArgsSchema('email.queue')).toBeUndefined();
    expect(toolArgsSchema('toString')).toBeUndefined();
  });

  it('gives the roles the tools the recipes produce', () => {
    expect(DEFAULT_ROLE_TOOLS.outreach).toContain('email.draft');
    expect(executableIssues('dev', { tool: 'deploy.canary', args: { ref: 'v1', percent: 10 } })).toEqual([]);
    expect(
      executableIssues('dev', {
        tool: 'pr.open',
        args: { title: 't', head: 'warden/a/1', base: 'main', push_head: true },
      }),
    ).toEqual([]);
    expect(
      executableIssues('dev', { tool: 'git.push', args: { remote: 'origin', branch: 'x', force_with_lease: true } }),
    ).toEqual([]);
  });

  it('names unknown fields, wrong types, a tool nothing runs and a role without the tool', () => {
    expect(executableIssues('dev', { tool: 'deploy.staging', args: { ref: 'v1', percent: 10 } })).toEqual([
      { path: 'args.percent', message: 'unknown field' },
    ]);
    expect(executableIssues('dev', { tool: 'deploy.canary', args: { ref: 'v1', percent: 'ten' } })).toEqual([
      { path: 'args.percent', message: expect.stringMatching(/expected number/) as unknown as string },
    ]);
    expect(executableIssues('dev', { tool: 'email.queue', args: {} })).toEqual([
      { path: 'tool', message: 'no worker has a tool "email.queue"' },
    ]);
    expect(executableIssues('research', { tool: 'deploy.canary', args: { ref: 'v1', percent: 10 } })).toEqual([
      {
        path: 'tool',
        message: expect.stringMatching(/role "research" has no tool "deploy.canary"/) as unknown as string,
      },
    ]);
    expect(executableIssues('nobody', { tool: 'fs.read_file', args: { path: 'a' } })[0]!.message).toBe(
      'no worker serves role "nobody"',
    );
  });

  it('skips a required field the proposal itself lacks, not one the rewrite dropped', () => {
    const draft = { tool: 'email.draft', args: { to: 'a@example.com' } };
    // the test input had no subject: the proposal's gap, not the recipe's
    expect(executableIssues('outreach', draft, { to: 'a@example.com' })).toEqual([]);
    // the proposal had one and the rewrite lost it
    expect(executableIssues('outreach', draft, { to: 'a@example.com', subject: 's', text: 't' })).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'args.subject' })]),
    );
  });
});

describe('constraints', () => {
  it('lets rules set only what workers enforce', () => {
    expect([...WORKER_CONSTRAINTS].sort()).toEqual(
      ['allowed_hosts', 'env_allow', 'http_allow_private', 'http_hosts', 'max_output_bytes', 'timeout_seconds'].sort(),
    );
    for (const c of Object.values(CONSTRAINTS)) expect(c.effect.length).toBeGreaterThan(0);
  });

  it('matches env_allow names exactly or by prefix*', () => {
    expect(envAllowed(['PATH', 'LC_*'], 'LC_ALL')).toBe(true);
    expect(envAllowed(['PATH', 'LC_*'], 'PATHX')).toBe(false);
    expect(envAllowed([], 'PATH')).toBe(false);
  });
});
