'use strict';
/**
 * `warden` commands for the approvals service (APPROVALS_URL, default http://127.0.0.1:7104):
 * the inbox, voting, operators, standing approvals and reviews. Votes are sent with
 * `X-Warden-Channel: cli`, so metrics and the audit trail say where they came from.
 */
const { UsageError, parseFlags, positiveInt } = require('./args');
const { apiClient, command } = require('./http');
const { table, out } = require('./format');

const usage = `Approvals (APPROVALS_URL, default http://127.0.0.1:7104):
  approvals list [--status pending|granted|rejected|expired] [--limit n] [--cursor c] [--json]
  approvals get <approval_id> [--json]
  approve <approval_id> [--comment text] [--standing session|agent --ttl seconds] [--json]
  reject <approval_id> --reason text [--json]
  operators create --name n --roles viewer,approver,admin --max-tier 1..3 [--slack-user U123]
                                             prints the new operator's token once
  operators list [--json]
  operators revoke <operator_id> [--reason text]
  standing list [--all] [--json]             standing approvals ("approve and allow this pattern")
  standing revoke <standing_id> [--reason text]
  reviews list [--status pending|fine|flagged] [--json]
  review fine|flag <review_id> [--comment text]   flag proposes the compensating action as a new run`;

const approvals = apiClient({
  name: 'the approvals service',
  urlVar: 'APPROVALS_URL',
  defaultUrl: 'http://127.0.0.1:7104',
  headers: { 'x-warden-channel': 'cli' },
  forbidden: 'the token lacks the role (or max_tier) this needs',
});

function age(iso, now = Date.now()) {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (Math.abs(s) < 120) return `${s}s`;
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** One line per approval: id, status, tier, votes/required, tool, agent, expiry. */
function formatApprovals(items, now = Date.now()) {
  if (items.length === 0) return 'no approvals';
  const rows = items.map((a) => [
    a.id,
    a.status,
    `t${a.tier}`,
    `${a.votes.filter((v) => v.vote === 'approve').length}/${a.required_votes}`,
    a.action.tool,
    a.agent.id,
    a.status === 'pending' ? `expires in ${age(new Date(now).toISOString(), Date.parse(a.expires_at))}` : a.status,
  ]);
  return table(rows);
}

function formatApproval(a) {
  const lines = [
    `approval ${a.id}  ${a.status}  tier ${a.tier}  votes ${a.votes.length}/${a.required_votes}`,
    `run ${a.run_id}  agent ${a.agent.id} (${a.agent.role})${a.session_id ? `  session ${a.session_id}` : ''}`,
    `action ${a.action.tool} ${JSON.stringify(a.action.args)}`,
    `reasons: ${a.reasons.join('; ')}`,
    `expires ${a.expires_at}`,
  ];
  for (const v of a.votes)
    lines.push(`  ${v.vote} by ${v.operator} via ${v.channel} at ${v.at}${v.comment ? `: ${v.comment}` : ''}`);
  if (a.closed_reason) lines.push(`closed: ${a.closed_reason}`);
  return lines.join('\n');
}

function one(positionals, what) {
  if (positionals.length !== 1) throw new UsageError(`needs exactly one ${what}`);
  return encodeURIComponent(positionals[0]);
}

const commands = {
  approvals: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    if (sub === 'get') {
      const { flags, positionals } = parseFlags(rest, { json: 'boolean' });
      const a = await approvals.call(io, 'GET', `/v1/approvals/${one(positionals, 'approval id')}`);
      out(io, a, flags.json, formatApproval(a));
      return 0;
    }
    if (sub !== 'list' && sub !== undefined) throw new UsageError(`unknown approvals command "${sub}"`);
    const { flags, positionals } = parseFlags(rest, {
      status: 'string',
      limit: 'string',
      cursor: 'string',
      json: 'boolean',
    });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const q = new URLSearchParams();
    if (flags.status) q.set('status', flags.status);
    if (flags.limit) q.set('limit', String(positiveInt(flags.limit, 'limit')));
    if (flags.cursor) q.set('cursor', flags.cursor);
    const page = await approvals.call(io, 'GET', `/v1/approvals${q.size ? `?${q}` : ''}`);
    out(
      io,
      page,
      flags.json,
      formatApprovals(page.items) + (page.next_cursor ? `\nnext: --cursor ${page.next_cursor}` : ''),
    );
    return 0;
  }),

  approve: command(async (argv, io) => {
    const { flags, positionals } = parseFlags(argv, {
      comment: 'string',
      standing: 'string',
      ttl: 'string',
      json: 'boolean',
    });
    const id = one(positionals, 'approval id');
    if (flags.standing && !['session', 'agent'].includes(flags.standing))
      throw new UsageError('--standing is session or agent');
    if (Boolean(flags.standing) !== Boolean(flags.ttl)) throw new UsageError('--standing and --ttl go together');
    const body = {
      ...(flags.comment ? { comment: flags.comment } : {}),
      ...(flags.standing ? { standing: { scope: flags.standing, ttl_seconds: positiveInt(flags.ttl, 'ttl') } } : {}),
    };
    const a = await approvals.call(io, 'POST', `/v1/approvals/${id}/approve`, body);
    out(io, a, flags.json, `${a.id} ${a.status} (${a.votes.length}/${a.required_votes} votes)`);
    return 0;
  }),

  reject: command(async (argv, io) => {
    const { flags, positionals } = parseFlags(argv, { reason: 'string', json: 'boolean' });
    const id = one(positionals, 'approval id');
    if (!flags.reason) throw new UsageError('reject needs --reason');
    const a = await approvals.call(io, 'POST', `/v1/approvals/${id}/reject`, { comment: flags.reason });
    out(io, a, flags.json, `${a.id} ${a.status}`);
    return 0;
  }),

  operators: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    if (sub === 'create') {
      const { flags } = parseFlags(rest, {
        name: 'string',
        roles: 'string',
        'max-tier': 'string',
        'slack-user': 'string',
      });
      if (!flags.name || !flags.roles || !flags['max-tier'])
        throw new UsageError('operators create needs --name, --roles and --max-tier');
      const r = await approvals.call(io, 'POST', '/v1/operators', {
        name: flags.name,
        roles: flags.roles.split(',').map((s) => s.trim()),
        max_tier: positiveInt(flags['max-tier'], 'max-tier'),
        ...(flags['slack-user'] ? { slack_user_id: flags['slack-user'] } : {}),
      });
      io.stdout.write(`operator ${r.id}\ntoken ${r.token}\n(the token is shown only now; store it safely)\n`);
      return 0;
    }
    if (sub === 'list') {
      const { flags } = parseFlags(rest, { json: 'boolean' });
      const r = await approvals.call(io, 'GET', '/v1/operators');
      const text = r.items
        .map(
          (o) => `${o.id}  ${o.name}  ${o.roles.join(',')}  max_tier ${o.max_tier}${o.revoked_at ? '  REVOKED' : ''}`,
        )
        .join('\n');
      out(io, r, flags.json, text || 'no operators');
      return 0;
    }
    if (sub === 'revoke') {
      const { flags, positionals } = parseFlags(rest, { reason: 'string' });
      await approvals.call(io, 'POST', `/v1/operators/${one(positionals, 'operator id')}/revoke`, {
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      io.stdout.write('revoked\n');
      return 0;
    }
    throw new UsageError('operators create|list|revoke');
  }),

  standing: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    if (sub === 'list') {
      const { flags } = parseFlags(rest, { all: 'boolean', json: 'boolean' });
      const r = await approvals.call(io, 'GET', `/v1/standing-approvals${flags.all ? '?all=true' : ''}`);
      const text = r.items
        .map(
          (s) =>
            `${s.standing_id}  ${s.scope}  agent ${s.agent_id}${s.session_id ? ` session ${s.session_id}` : ''}  ${s.tool}  ≤t${s.max_tier}  until ${s.expires_at}${s.revoked_at ? '  REVOKED' : ''}`,
        )
        .join('\n');
      out(io, r, flags.json, text || 'no standing approvals');
      return 0;
    }
    if (sub === 'revoke') {
      const { flags, positionals } = parseFlags(rest, { reason: 'string' });
      await approvals.call(io, 'POST', `/v1/standing-approvals/${one(positionals, 'standing approval id')}/revoke`, {
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      io.stdout.write('revoked\n');
      return 0;
    }
    throw new UsageError('standing list|revoke');
  }),

  reviews: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    if (sub !== 'list' && sub !== undefined) throw new UsageError('reviews list');
    const { flags } = parseFlags(rest, { status: 'string', json: 'boolean' });
    const r = await approvals.call(
      io,
      'GET',
      `/v1/reviews${flags.status ? `?status=${encodeURIComponent(flags.status)}` : ''}`,
    );
    const text = r.items
      .map(
        (x) =>
          `${x.id}  ${x.status}  run ${x.run_id}  ${x.action.tool}${x.compensation_action ? `  (flag → ${x.compensation_action.tool})` : ''}`,
      )
      .join('\n');
    out(io, r, flags.json, text || 'no review items');
    return 0;
  }),

  review: command(async (argv, io) => {
    const [verdict, ...rest] = argv;
    if (verdict !== 'fine' && verdict !== 'flag') throw new UsageError('review fine|flag <review_id>');
    const { flags, positionals } = parseFlags(rest, { comment: 'string', json: 'boolean' });
    const r = await approvals.call(io, 'POST', `/v1/reviews/${one(positionals, 'review id')}/${verdict}`, {
      ...(flags.comment ? { comment: flags.comment } : {}),
    });
    const comp = r.resolution && r.resolution.compensation_run_id;
    out(io, r, flags.json, `${r.id} ${r.status}${comp ? `; compensating run ${comp}` : ''}`);
    return 0;
  }),
};

module.exports = { commands, usage, formatApprovals, formatApproval };
