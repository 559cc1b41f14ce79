import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { McpToolFacts } from '@warden/contracts';
import { parseBundle } from './bundle';
import { evaluate, policyInput, type PolicyInput } from './evaluate';

const DEFAULT_YAML = readFileSync(resolve(__dirname, '../../../deploy/policies/default.yaml'), 'utf8');
const policy = parseBundle(DEFAULT_YAML);
const NOW = new Date('2026-11-21T10:00:00.000Z');
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const READ_ONLY = { readOnlyHint: true, destructiveHint: false, openWorldHint: false };

function facts(over: Partial<McpToolFacts> = {}): McpToolFacts {
  return {
    server: 'everything',
    server_role: 'research',
    tool: 'echo',
    digest: D1,
    pinned: D1,
    annotations: READ_ONLY,
    ...over,
  };
}

function judge(tool: string, mcp: McpToolFacts | undefined, role = 'research') {
  const input: PolicyInput = { ...policyInput({ agent: { id: 'a', role }, action: { tool, args: {} } }), mcp };
  return evaluate(policy, input, NOW);
}

describe('upstream MCP tools in the default policy', () => {
  it('allows a pinned read-only, closed-world tool at tier 1', () => {
    const d = judge('everything.echo', facts());
    expect([d.outcome, d.tier, d.rule_ids]).toEqual(['allow', 1, ['mcp-default-read-only']]);
  });

  it.each([
    ['destructive', { ...READ_ONLY, destructiveHint: true }],
    ['open-world', { ...READ_ONLY, openWorldHint: true }],
    ['not read-only', { ...READ_ONLY, readOnlyHint: false }],
    ['unannotated', {}],
    ['open world unsaid', { readOnlyHint: true }],
  ])('escalates a %s tool at tier 2', (_name, annotations) => {
    const d = judge('everything.echo', facts({ annotations }));
    expect([d.outcome, d.tier, d.rule_ids]).toEqual(['escalate', 2, ['mcp-default-escalate']]);
  });

  it('refuses a changed definition (TOOL.DEFINITION_CHANGED) and one never pinned', () => {
    const changed = judge('everything.echo', facts({ digest: D2 }));
    expect([changed.outcome, changed.rule_ids]).toEqual(['deny', ['mcp-definition-changed']]);
    expect(changed.reasons[0]).toMatch(/^TOOL\.DEFINITION_CHANGED: .*re-pin server everything/);
    const never = judge('everything.echo', facts({ pinned: null }));
    expect([never.outcome, never.rule_ids]).toEqual(['deny', ['mcp-definition-changed']]);
  });

  it("keeps roles honest: another role may not call a server's tools", () => {
    const d = judge('everything.echo', facts(), 'dev');
    expect([d.outcome, d.rule_ids]).toEqual(['deny', ['role-tools']]);
    expect(d.reasons[0]).toContain('serves role research');
  });

  it('denies a tool the server does not list, and an upstream-looking name without a catalog', () => {
    expect(judge('everything.nope', facts({ tool: 'nope', digest: null })).rule_ids).toEqual(['default-deny']);
    expect(judge('everything.echo', undefined).rule_ids).toEqual(['default-deny']);
  });

  it('ignores facts that are not about the proposed tool', () => {
    expect(judge('everything.add', facts()).rule_ids).toEqual(['default-deny']);
  });

  it('lets a bundle rule override the default per tool (upstream spelling), never an unpinned definition', () => {
    const yaml = `${DEFAULT_YAML.replace(
      /^rules:\n/m,
      'rules:\n  - id: everything-sum-deny\n    tools: [everything.get-sum]\n    outcome: deny\n    reason: no sums\n  - id: everything-echo-t3\n    tools: [everything.echo]\n    outcome: escalate\n    tier: 3\n    reason: careful\n',
    )}`;
    const strict = parseBundle(yaml);
    const at = (tool: string, f: McpToolFacts) =>
      evaluate(
        strict,
        { ...policyInput({ agent: { id: 'a', role: 'research' }, action: { tool, args: {} } }), mcp: f },
        NOW,
      );
    expect(at('everything.get-sum', facts({ tool: 'get-sum' })).rule_ids).toEqual(['everything-sum-deny']);
    const echo = at('everything.echo', facts());
    expect([echo.outcome, echo.tier]).toEqual(['escalate', 3]);
    expect(at('everything.echo', facts({ digest: D2 })).rule_ids).toEqual(['mcp-definition-changed']);
  });

  it('hashes the facts into input_hash (replay needs them)', () => {
    expect(judge('everything.echo', facts()).input_hash).not.toBe(
      judge('everything.echo', facts({ pinned: D2, digest: D2 })).input_hash,
    );
  });

  it('CEL conditions see the facts as `mcp`', () => {
    const yaml = `${DEFAULT_YAML.replace(
      /^rules:\n/m,
      "rules:\n  - id: echo-if-annotated\n    tools: [everything.*]\n    if: 'mcp.annotations.readOnlyHint == true'\n    outcome: allow\n    reason: read-only\n",
    )}`;
    const p = parseBundle(yaml);
    const d = evaluate(
      p,
      {
        ...policyInput({ agent: { id: 'a', role: 'research' }, action: { tool: 'everything.echo', args: {} } }),
        mcp: facts(),
      },
      NOW,
    );
    expect(d.rule_ids).toEqual(['echo-if-annotated']);
  });
});
