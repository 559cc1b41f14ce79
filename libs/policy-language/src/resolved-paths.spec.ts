/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit parsed YAML freely */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { parseBundle, type LoadedBundle } from './bundle';
import { evaluate, pathsToResolve, policyInput, type PolicyInput } from './evaluate';
import { judgePaths, type ResolvedPaths } from './paths';
import { replay } from './replay';

const DEFAULT_YAML = readFileSync(resolve(__dirname, '../../../deploy/policies/default.yaml'), 'utf8');
const policy = parseBundle(DEFAULT_YAML);
const NOW = new Date('2026-11-21T10:00:00.000Z');

function input(tool: string, args: Record<string, unknown>, paths?: ResolvedPaths): PolicyInput {
  const i = policyInput({ agent: { id: 'agent-7', role: 'dev' }, action: { tool, args } });
  return paths ? { ...i, paths } : i;
}

describe('judgePaths', () => {
  it('without resolutions the real path is the lexical one', () => {
    expect(judgePaths({ path: 'a/./../vlink/x' }, ['path'], undefined)).toEqual({
      paths: [{ arg: 'path', path: 'vlink/x', real: 'vlink/x' }],
      problems: [],
      unresolved: [],
    });
  });

  it('a resolution names the real path (a link to a directory, a chain, .. applied before links)', () => {
    const r = judgePaths({ src: ['vlink/x', 'a/vlink2/../y'] }, ['src'], {
      'vlink/x': { real: 'prod/x' },
      'a/y': { real: 'prod/y' },
    });
    expect(r.paths).toEqual([
      { arg: 'src.0', path: 'vlink/x', real: 'prod/x' },
      { arg: 'src.1', path: 'a/y', real: 'prod/y' },
    ]);
  });

  it.each([
    [{ outside: true as const }, 'leads outside the workspace through a symlink'],
    [{ error: 'ELOOP' }, 'could not be resolved in the workspace (ELOOP)'],
    [{ real: 'prod/app.yaml', links: 2 }, '(prod/app.yaml) has 2 hard links; files linked from elsewhere are refused'],
    [{ real: 'x', links: 3 }, 'has 3 hard links; files linked from elsewhere are refused'],
    [{ real: '../etc' }, 'resolves to a path that escapes the workspace'],
  ])('%j is a problem: %s', (resolution, reason) => {
    expect(judgePaths({ path: 'x' }, ['path'], { x: resolution }).problems).toEqual([{ arg: 'path', reason }]);
  });

  it('a path without a resolution is a problem and is listed to resolve', () => {
    expect(judgePaths({ path: 'x', dest: '../y' }, ['path', 'dest'], {})).toEqual({
      paths: [],
      problems: [
        { arg: 'path', reason: 'was not resolved in the workspace' },
        { arg: 'dest', reason: 'escapes the workspace' },
      ],
      unresolved: ['x'],
    });
  });
});

describe('evaluate with resolved paths', () => {
  it('a write through a link into prod/ escalates to tier 3 and records what was resolved', () => {
    const d = evaluate(
      policy,
      input(
        'fs.write_file',
        { path: 'vlink/sneaky.yaml', content: 'x' },
        { 'vlink/sneaky.yaml': { real: 'prod/sneaky.yaml' } },
      ),
      NOW,
    );
    expect(d).toMatchObject({
      outcome: 'escalate',
      tier: 3,
      rule_ids: ['fs-write-prod'],
      constraints: { required_votes: 2, resolved_paths: { 'vlink/sneaky.yaml': 'prod/sneaky.yaml' } },
    });
  });

  it('the same write judged lexically (no resolutions: an old recorded input) stays tier 1', () => {
    const d = evaluate(policy, input('fs.write_file', { path: 'vlink/sneaky.yaml', content: 'x' }), NOW);
    expect(d).toMatchObject({ outcome: 'allow', tier: 1, constraints: {} });
    expect(d.constraints).not.toHaveProperty('resolved_paths');
  });

  it('a plain path is allowed and records itself', () => {
    const d = evaluate(
      policy,
      input('fs.write_file', { path: 'notes/a.md' }, { 'notes/a.md': { real: 'notes/a.md' } }),
      NOW,
    );
    expect(d).toMatchObject({ outcome: 'allow', constraints: { resolved_paths: { 'notes/a.md': 'notes/a.md' } } });
  });

  it('a link out of prod/ is judged where it leads (prod -> staging)', () => {
    const d = evaluate(policy, input('fs.write_file', { path: 'prod/x' }, { 'prod/x': { real: 'staging/x' } }), NOW);
    expect(d).toMatchObject({ outcome: 'allow', rule_ids: ['fs-write'] });
  });

  it.each([
    ['a link leading outside', { outside: true as const }, 'leads outside the workspace through a symlink'],
    ['a hard link into prod/', { real: 'notes/app.yaml', links: 2 }, 'has 2 hard links'],
    ['an unreadable path', { error: 'EACCES' }, 'could not be resolved in the workspace (EACCES)'],
  ])('%s is denied (workspace-escape), reads too', (_label, resolution, reason) => {
    for (const tool of ['fs.write_file', 'fs.read_file']) {
      const d = evaluate(policy, input(tool, { path: 'notes/app.yaml' }, { 'notes/app.yaml': resolution }), NOW);
      expect(d.outcome).toBe('deny');
      expect(d.rule_ids).toEqual(['workspace-escape']);
      expect(d.reasons.join()).toContain(reason);
    }
  });

  it('a path the I/O layer did not resolve is denied (fail closed)', () => {
    const d = evaluate(policy, input('fs.write_file', { path: 'a', dest: 'b' }, { a: { real: 'a' } }), NOW);
    expect(d).toMatchObject({ outcome: 'deny', rule_ids: ['workspace-escape'] });
  });

  it('path_under conditions see the real path', () => {
    const p = variant((raw) => {
      const rule = raw.rules.find((r: any) => r.id === 'fs-write-prod');
      delete rule.if;
      rule.when = { path_under: 'prod/' };
    });
    const d = evaluate(p, input('fs.write_file', { path: 'v/x' }, { 'v/x': { real: 'prod/x' } }), NOW);
    expect(d).toMatchObject({ outcome: 'escalate', tier: 3 });
  });

  it('resolutions are part of input_hash, and replay needs no disk', () => {
    const a = input('fs.write_file', { path: 'v/x' }, { 'v/x': { real: 'v/x' } });
    const b = input('fs.write_file', { path: 'v/x' }, { 'v/x': { real: 'prod/x' } });
    const da = evaluate(policy, a, NOW);
    const db = evaluate(policy, b, NOW);
    expect(da.input_hash).not.toBe(db.input_hash);
    const r = replay(policy, { run_id: 'r', ...db, decided_at: NOW, input: JSON.parse(JSON.stringify(b)) });
    expect(r).toMatchObject({ identical: true });
  });
});

/** The same bundle with edits applied to its parsed YAML. */
function variant(edit: (raw: Record<string, any>) => void): LoadedBundle {
  const raw = parse(DEFAULT_YAML) as Record<string, any>;
  edit(raw);
  return parseBundle(JSON.stringify(raw));
}

describe('pathsToResolve', () => {
  const swapping = variant((raw) => {
    const rule = raw.rules.find((r: any) => r.id === 'fs-write-prod');
    Object.assign(rule, {
      outcome: 'compute',
      compute: { recipe: 'path_swap', with: { from: 'prod/', to: 'staging/' } },
      reason: 'agents write to staging/',
    });
    delete rule.tier;
  });

  it('names the action’s paths first, once each', () => {
    expect(pathsToResolve(policy, input('fs.write_file', { path: 'a/../b', dest: 'b' }))).toEqual(['b']);
    expect(pathsToResolve(policy, input('fs.write_file', { path: '../x' }))).toEqual([]);
    expect(pathsToResolve(policy, input('git.status', {}))).toEqual([]);
  });

  it('nothing more when every path is resolved and no compute rule names the tool', () => {
    expect(pathsToResolve(policy, input('fs.write_file', { path: 'v/x' }, { 'v/x': { real: 'prod/x' } }))).toEqual([]);
  });

  it('then the rewrite’s paths: a link into prod/ is swapped where it leads, and that is judged too', () => {
    const first = input('fs.write_file', { path: 'v/x' }, { 'v/x': { real: 'prod/x' } });
    expect(pathsToResolve(swapping, first)).toEqual(['staging/x']);
    const complete = { ...first, paths: { ...first.paths, 'staging/x': { real: 'staging/x' } } };
    expect(pathsToResolve(swapping, complete)).toEqual([]);
    const d = evaluate(swapping, complete, NOW);
    expect(d).toMatchObject({
      outcome: 'compute',
      rewritten_action: { tool: 'fs.write_file', args: { path: 'staging/x' } },
      constraints: { resolved_paths: { 'staging/x': 'staging/x' } },
    });
  });

  it('a rewrite whose target is itself a link into prod/ is denied', () => {
    const i = input(
      'fs.write_file',
      { path: 'prod/x' },
      { 'prod/x': { real: 'prod/x' }, 'staging/x': { real: 'prod/x' } },
    );
    const d = evaluate(swapping, i, NOW);
    expect(d.outcome).toBe('deny');
  });
});
