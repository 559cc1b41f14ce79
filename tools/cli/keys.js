'use strict';
/**
 * `warden keys …` and `warden webhooks …`: API keys and webhook sources on the ingest service
 * (INGEST_URL, default http://127.0.0.1:7101), with the admin operator token (WARDEN_TOKEN, then
 * WARDEN_BOOTSTRAP_ADMIN_TOKEN, then var/admin.token).
 */
const { UsageError, parseFlags } = require('./args');
const { apiClient, command } = require('./http');
const { table, out } = require('./format');

const usage = `API keys and webhook sources (INGEST_URL, default http://127.0.0.1:7101; admin token):
  keys create --name <n> --owner <o> (--agent <id>:<role> | --roles <r1,r2> [--agent-pattern <glob>])
              [--expires <iso time>] [--json]
                                             a new API key for POST /v1/tasks (shown once), bound to
                                             one agent, or to roles and agent ids matching a glob
                                             ('harness-*') for a harness; without either it is an
                                             unbound (deprecated) key
  keys list [--json]                         every key: status, owner, last use (never the key)
  keys revoke <key_id> [--reason text]       refused by every ingest replica within 5 s
  keys rotate <key_id> [--grace <seconds>] [--json]
                                             a new key now, same binding; the old one works for the grace period
                                             (default 24 h), then is refused
  webhooks create <source> [--json]          a Standard Webhooks source; its whsec_ secret is shown once
  webhooks list [--json]                     sources and their secrets' validity (never the secrets)
  webhooks rotate <source> [--grace <seconds>] [--json]
                                             a new secret; the old one stays valid for the grace period
  webhooks delete <source>                   deliveries to it are refused from now on`;

const ingest = apiClient({
  name: 'ingest',
  urlVar: 'INGEST_URL',
  defaultUrl: 'http://127.0.0.1:7101',
  forbidden: 'the token lacks the role this needs (admin)',
});

function one(positionals, what) {
  if (positionals.length !== 1) throw new UsageError(`needs exactly one ${what}`);
  return positionals[0];
}

function seconds(value, flag) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${flag} must be a whole number of seconds`);
  return n;
}

/** `--agent id:role` → {id, role}; the role is the last `:`-separated part (agent ids may hold `:`). */
function agentFlag(value) {
  const i = value.lastIndexOf(':');
  if (i <= 0 || i === value.length - 1) throw new UsageError('--agent must be <agent id>:<role>, e.g. agent-7:dev');
  return { id: value.slice(0, i), role: value.slice(i + 1) };
}

/** The binding fields of `POST /v1/keys` from the flags (ingest validates them). */
function bindingFlags(flags) {
  if (flags.agent !== undefined && (flags.roles !== undefined || flags['agent-pattern'] !== undefined))
    throw new UsageError('--agent binds one agent; --roles/--agent-pattern bind a harness: use one or the other');
  if (flags['agent-pattern'] !== undefined && flags.roles === undefined)
    throw new UsageError('--agent-pattern needs --roles');
  if (flags.agent !== undefined) return { agent: agentFlag(flags.agent) };
  if (flags.roles === undefined) return {};
  const roles = flags.roles
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (roles.length === 0) throw new UsageError('--roles needs at least one role');
  return { roles, ...(flags['agent-pattern'] !== undefined ? { agent_pattern: flags['agent-pattern'] } : {}) };
}

/** What a key speaks for, in one column. */
function bindingText(k) {
  if (k.agent) return `${k.agent.id}:${k.agent.role}`;
  if (k.roles) return `${k.agent_pattern ?? '*'} as ${k.roles.join(',')}`;
  return 'unbound';
}

function formatKeys(keys) {
  if (keys.length === 0) return 'no API keys';
  return table([
    ['ID', 'NAME', 'OWNER', 'STATUS', 'AGENT', 'CREATED', 'LAST USED', 'EXPIRES/REVOKED'],
    ...keys.map((k) => [
      k.id,
      k.name,
      k.owner,
      k.status,
      bindingText(k),
      k.created_at,
      k.last_used_at || '-',
      k.revoked_at || k.expires_at || '-',
    ]),
  ]);
}

function formatSources(sources) {
  if (sources.length === 0) return 'no webhook sources';
  return table([
    ['SOURCE', 'CREATED', 'SECRETS'],
    ...sources.map((s) => [
      s.name,
      s.created_at,
      s.secrets.map((k) => (k.expires_at ? `1 until ${k.expires_at}` : '1 current')).join(', ') || 'none',
    ]),
  ]);
}

const commands = {
  keys: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'create': {
        const { flags, positionals } = parseFlags(rest, {
          name: 'string',
          owner: 'string',
          expires: 'string',
          agent: 'string',
          roles: 'string',
          'agent-pattern': 'string',
          json: 'boolean',
        });
        if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        if (!flags.name || !flags.owner) throw new UsageError('keys create needs --name and --owner');
        const binding = bindingFlags(flags);
        const r = await ingest.call(io, 'POST', '/v1/keys', {
          name: flags.name,
          owner: flags.owner,
          ...(flags.expires ? { expires_at: flags.expires } : {}),
          ...binding,
        });
        out(
          io,
          r,
          flags.json,
          `key_id ${r.id}\nkey    ${r.key}\nagent  ${bindingText(r)}\n(the key is shown only now; store it safely)` +
            (Object.keys(binding).length === 0
              ? '\nwarning: the key is not bound to an agent (deprecated); use --agent id:role'
              : ''),
        );
        return 0;
      }
      case 'list':
      case undefined: {
        const { flags, positionals } = parseFlags(rest, { json: 'boolean' });
        if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        const r = await ingest.call(io, 'GET', '/v1/keys');
        out(io, r.keys, flags.json, formatKeys(r.keys));
        return 0;
      }
      case 'revoke': {
        const { flags, positionals } = parseFlags(rest, { reason: 'string', json: 'boolean' });
        const id = one(positionals, 'key id');
        const r = await ingest.call(io, 'POST', `/v1/keys/${encodeURIComponent(id)}/revoke`, {
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        out(io, r, flags.json, `revoked ${r.id} at ${r.revoked_at}`);
        return 0;
      }
      case 'rotate': {
        const { flags, positionals } = parseFlags(rest, { grace: 'string', json: 'boolean' });
        const id = one(positionals, 'key id');
        const grace = seconds(flags.grace, 'grace');
        const r = await ingest.call(io, 'POST', `/v1/keys/${encodeURIComponent(id)}/rotate`, {
          ...(grace !== undefined ? { grace_seconds: grace } : {}),
        });
        out(
          io,
          r,
          flags.json,
          `key_id ${r.id}\nkey    ${r.key}\nagent  ${bindingText(r)}\n(the key is shown only now; store it safely)\n` +
            `old key ${r.replaces} keeps working until ${r.old_key_valid_until}`,
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown keys command "${sub}"`);
    }
  }),

  webhooks: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'create': {
        const { flags, positionals } = parseFlags(rest, { json: 'boolean' });
        const r = await ingest.call(io, 'POST', '/v1/webhooks/sources', { name: one(positionals, 'source name') });
        out(
          io,
          r,
          flags.json,
          `source ${r.name}\nsecret ${r.secret}\n(the secret is shown only now)\n` +
            `deliver to ${ingest.base(io.env)}/v1/webhooks/${r.name}`,
        );
        return 0;
      }
      case 'list':
      case undefined: {
        const { flags } = parseFlags(rest, { json: 'boolean' });
        const r = await ingest.call(io, 'GET', '/v1/webhooks/sources');
        out(io, r.sources, flags.json, formatSources(r.sources));
        return 0;
      }
      case 'rotate': {
        const { flags, positionals } = parseFlags(rest, { grace: 'string', json: 'boolean' });
        const name = one(positionals, 'source name');
        const grace = seconds(flags.grace, 'grace');
        const r = await ingest.call(io, 'POST', `/v1/webhooks/sources/${encodeURIComponent(name)}/rotate`, {
          ...(grace !== undefined ? { grace_seconds: grace } : {}),
        });
        out(
          io,
          r,
          flags.json,
          `source ${r.name}\nsecret ${r.secret}\n(the secret is shown only now)\nthe previous secret stays valid until ${r.previous_valid_until}`,
        );
        return 0;
      }
      case 'delete': {
        const { positionals } = parseFlags(rest, {});
        const name = one(positionals, 'source name');
        await ingest.call(io, 'DELETE', `/v1/webhooks/sources/${encodeURIComponent(name)}`);
        io.stdout.write(`deleted ${name}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown webhooks command "${sub}"`);
    }
  }),
};

module.exports = { commands, usage, formatKeys, formatSources };
