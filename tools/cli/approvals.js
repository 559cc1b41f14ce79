'use strict';
/**
 * `warden` commands for the approvals service (APPROVALS_URL, default http://127.0.0.1:7104):
 * the inbox, voting, operators, standing approvals and reviews. Votes are sent with
 * `X-Warden-Channel: cli`, so metrics and the audit trail say where they came from.
 */
const fs = require('node:fs');
const path = require('node:path');
const { UsageError, parseFlags, positiveInt } = require('./args');

const ROOT = path.resolve(__dirname, '..', '..');

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

/** WARDEN_TOKEN, then WARDEN_BOOTSTRAP_ADMIN_TOKEN, then var/admin.token. */
function token(env, root) {
  if (env.WARDEN_TOKEN) return env.WARDEN_TOKEN;
  if (env.WARDEN_BOOTSTRAP_ADMIN_TOKEN) return env.WARDEN_BOOTSTRAP_ADMIN_TOKEN;
  try {
    return fs.readFileSync(path.join(root || ROOT, 'var', 'admin.token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

class Failed extends Error {}

/** One call to the approvals API; throws Failed with a readable problem on any non-2xx. */
async function call(io, env, method, pathname, body) {
  const base = (env.APPROVALS_URL || 'http://127.0.0.1:7104').replace(/\/+$/, '');
  const tok = token(env, io.root);
  let res;
  try {
    res = await fetch(base + pathname, {
      method,
      headers: {
        accept: 'application/json',
        'x-warden-channel': 'cli',
        ...(tok ? { authorization: `Bearer ${tok}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new Failed(`cannot reach the approvals service at ${base}: ${(err.cause && err.cause.code) || err.message}`);
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (res.status >= 200 && res.status < 300) return parsed;
  const b = parsed && typeof parsed === 'object' ? parsed : {};
  const errs = Array.isArray(b.errors) ? b.errors.map((e) => `\n  ${e.path || '(root)'}: ${e.message}`).join('') : '';
  let hint = '';
  if (res.status === 401) hint = tok ? '\nthe token was refused' : '\nno token: set WARDEN_TOKEN';
  if (res.status === 403) hint = '\nthe token lacks the role (or max_tier) this needs';
  throw new Failed(
    `${res.status} ${[b.title, b.detail].filter(Boolean).join(': ') || String(parsed || '')}${errs}${hint}`,
  );
}

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
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => String(c).padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
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

function out(io, value, json, text) {
  io.stdout.write(`${json ? JSON.stringify(value, null, 2) : text}\n`);
}

/** Wraps a command so API failures print and exit 1 (usage errors still exit 2 via the main CLI). */
function command(fn) {
  return async (argv, env, io) => {
    try {
      return await fn(argv, env, io);
    } catch (err) {
      if (err instanceof Failed) {
        io.stderr.write(`warden: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  };
}

function one(positionals, what) {
  if (positionals.length !== 1) throw new UsageError(`needs exactly one ${what}`);
  return encodeURIComponent(positionals[0]);
}

const commands = {
  approvals: command(async (argv, env, io) => {
    const [sub, ...rest] = argv;
    if (sub === 'get') {
      const { flags, positionals } = parseFlags(rest, { json: 'boolean' });
      const a = await call(io, env, 'GET', `/v1/approvals/${one(positionals, 'approval id')}`);
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
    const page = await call(io, env, 'GET', `/v1/approvals${q.size ? `?${q}` : ''}`);
    out(
      io,
      page,
      flags.json,
      formatApprovals(page.items) + (page.next_cursor ? `\nnext: --cursor ${page.next_cursor}` : ''),
    );
    return 0;
  }),

  approve: command(async (argv, env, io) => {
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
    const a = await call(io, env, 'POST', `/v1/approvals/${id}/approve`, body);
    out(io, a, flags.json, `${a.id} ${a.status} (${a.votes.length}/${a.required_votes} votes)`);
    return 0;
  }),

  reject: command(async (argv, env, io) => {
    const { flags, positionals } = parseFlags(argv, { reason: 'string', json: 'boolean' });
    const id = one(positionals, 'approval id');
    if (!flags.reason) throw new UsageError('reject needs --reason');
    const a = await call(io, env, 'POST', `/v1/approvals/${id}/reject`, { comment: flags.reason });
    out(io, a, flags.json, `${a.id} ${a.status}`);
    return 0;
  }),

  operators: command(async (argv, env, io) => {
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
      const r = await call(io, env, 'POST', '/v1/operators', {
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
      const r = await call(io, env, 'GET', '/v1/operators');
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
      await call(io, env, 'POST', `/v1/operators/${one(positionals, 'operator id')}/revoke`, {
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      io.stdout.write('revoked\n');
      return 0;
    }
    throw new UsageError('operators create|list|revoke');
  }),

  standing: command(async (argv, env, io) => {
    const [sub, ...rest] = argv;
    if (sub === 'list') {
      const { flags } = parseFlags(rest, { all: 'boolean', json: 'boolean' });
      const r = await call(io, env, 'GET', `/v1/standing-approvals${flags.all ? '?all=true' : ''}`);
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
      await call(io, env, 'POST', `/v1/standing-approvals/${one(positionals, 'standing approval id')}/revoke`, {
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      io.stdout.write('revoked\n');
      return 0;
    }
    throw new UsageError('standing list|revoke');
  }),

  reviews: command(async (argv, env, io) => {
    const [sub, ...rest] = argv;
    if (sub !== 'list' && sub !== undefined) throw new UsageError('reviews list');
    const { flags } = parseFlags(rest, { status: 'string', json: 'boolean' });
    const r = await call(
      io,
      env,
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

  review: command(async (argv, env, io) => {
    const [verdict, ...rest] = argv;
    if (verdict !== 'fine' && verdict !== 'flag') throw new UsageError('review fine|flag <review_id>');
    const { flags, positionals } = parseFlags(rest, { comment: 'string', json: 'boolean' });
    const r = await call(io, env, 'POST', `/v1/reviews/${one(positionals, 'review id')}/${verdict}`, {
      ...(flags.comment ? { comment: flags.comment } : {}),
    });
    const comp = r.resolution && r.resolution.compensation_run_id;
    out(io, r, flags.json, `${r.id} ${r.status}${comp ? `; compensating run ${comp}` : ''}`);
    return 0;
  }),
};

module.exports = { commands, usage, formatApprovals, formatApproval };
