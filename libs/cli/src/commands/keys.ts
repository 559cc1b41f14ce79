/**
 * `warden keys …` and `warden webhooks …`: API keys and webhook sources on the ingest service
 * (INGEST_URL), with the admin operator token.
 */
import type { Command } from 'commander';
import { one, wholeSeconds } from '../args';
import { EXIT, UsageError } from '../errors';
import { out, table } from '../format';
import { api } from '../http';
import type { Io } from '../io';
import { act, group, type CommandModule, type Context } from '../program';

const usage = `API keys and webhook sources (INGEST_URL, default {ingest}; admin token):
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

/** An API key as ingest lists it (never the secret). */
export interface KeyView {
  id: string;
  name: string;
  owner: string;
  status: string;
  agent?: { id: string; role: string };
  roles?: string[];
  agent_pattern?: string;
  created_at: string;
  last_used_at?: string | null;
  revoked_at?: string | null;
  expires_at?: string | null;
}
interface NewKey extends KeyView {
  key: string;
  replaces?: string;
  old_key_valid_until?: string;
}
export interface SourceView {
  name: string;
  created_at: string;
  secrets: { expires_at?: string | null }[];
}
interface NewSecret {
  name: string;
  secret: string;
  previous_valid_until?: string;
}

interface CreateKeyOptions {
  name?: string;
  owner?: string;
  expires?: string;
  agent?: string;
  roles?: string;
  agentPattern?: string;
  json?: boolean;
}

const ingest = api.ingest();

/** `--agent id:role` → {id, role}; the role is the last `:`-separated part (agent ids may hold `:`). */
export function agentFlag(value: string): { id: string; role: string } {
  const i = value.lastIndexOf(':');
  if (i <= 0 || i === value.length - 1) throw new UsageError('--agent must be <agent id>:<role>, e.g. agent-7:dev');
  return { id: value.slice(0, i), role: value.slice(i + 1) };
}

/** The binding fields of `POST /v1/keys` from the options (ingest validates them). */
export function bindingFlags(o: Pick<CreateKeyOptions, 'agent' | 'roles' | 'agentPattern'>): Record<string, unknown> {
  if (o.agent !== undefined && (o.roles !== undefined || o.agentPattern !== undefined))
    throw new UsageError('--agent binds one agent; --roles/--agent-pattern bind a harness: use one or the other');
  if (o.agentPattern !== undefined && o.roles === undefined) throw new UsageError('--agent-pattern needs --roles');
  if (o.agent !== undefined) return { agent: agentFlag(o.agent) };
  if (o.roles === undefined) return {};
  const roles = o.roles
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (roles.length === 0) throw new UsageError('--roles needs at least one role');
  return { roles, ...(o.agentPattern !== undefined ? { agent_pattern: o.agentPattern } : {}) };
}

/** What a key speaks for, in one column. */
export function bindingText(k: Pick<KeyView, 'agent' | 'roles' | 'agent_pattern'>): string {
  if (k.agent) return `${k.agent.id}:${k.agent.role}`;
  if (k.roles) return `${k.agent_pattern ?? '*'} as ${k.roles.join(',')}`;
  return 'unbound';
}

export function formatKeys(keys: readonly KeyView[]): string {
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

export function formatSources(sources: readonly SourceView[]): string {
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

const SHOWN_ONCE = '(the key is shown only now; store it safely)';

async function createKey(o: CreateKeyOptions, io: Io) {
  if (!o.name || !o.owner) throw new UsageError('keys create needs --name and --owner');
  const binding = bindingFlags(o);
  const r = await ingest.call<NewKey>(io, 'POST', '/v1/keys', {
    name: o.name,
    owner: o.owner,
    ...(o.expires ? { expires_at: o.expires } : {}),
    ...binding,
  });
  out(
    io,
    r,
    o.json,
    `key_id ${r.id}\nkey    ${r.key}\nagent  ${bindingText(r)}\n${SHOWN_ONCE}` +
      (Object.keys(binding).length === 0
        ? '\nwarning: the key is not bound to an agent (deprecated); use --agent id:role'
        : ''),
  );
  return EXIT.ok;
}

/** Commander gives a leaf's operands in `cmd.args`; these commands take exactly one. */
const only = (cmd: Command, what: string) => one(cmd.args, what);

function register(program: Command, ctx: Context): void {
  const io = ctx.io;
  const keys = group(
    program,
    'keys',
    'API keys for POST /v1/tasks (INGEST_URL; admin)',
    (sub) => `unknown keys command "${sub}"`,
  );
  keys
    .command('create')
    .description('a new API key (shown once), bound to one agent or to roles and an agent-id glob')
    .option('--name <n>', 'what the key is for')
    .option('--owner <o>', 'who answers for it')
    .option('--agent <id:role>', 'bind the key to one agent')
    .option('--roles <r1,r2>', 'bind the key to these roles (a harness)')
    .option('--agent-pattern <glob>', "with --roles: agent ids it may speak for, e.g. 'harness-*'")
    .option('--expires <iso time>', 'when the key stops working')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, (o: CreateKeyOptions, cmd: Command) => {
        if (cmd.args.length) throw new UsageError(`unexpected argument "${cmd.args[0]}"`);
        return createKey(o, io);
      }),
    );
  keys
    .command('list')
    .description('every key: status, owner, last use (never the key)')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (o: { json?: boolean }, cmd: Command) => {
        if (cmd.args.length) throw new UsageError(`unexpected argument "${cmd.args[0]}"`);
        const r = await ingest.call<{ keys: KeyView[] }>(io, 'GET', '/v1/keys');
        out(io, r.keys, o.json, formatKeys(r.keys));
        return EXIT.ok;
      }),
    );
  keys
    .command('revoke')
    .description('refused by every ingest replica within 5 s')
    .argument('[key_id]')
    .option('--reason <text>', 'why')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_id: unknown, o: { reason?: string; json?: boolean }, cmd: Command) => {
        const id = only(cmd, 'key id');
        const r = await ingest.call<{ id: string; revoked_at: string }>(
          io,
          'POST',
          `/v1/keys/${encodeURIComponent(id)}/revoke`,
          { ...(o.reason ? { reason: o.reason } : {}) },
        );
        out(io, r, o.json, `revoked ${r.id} at ${r.revoked_at}`);
        return EXIT.ok;
      }),
    );
  keys
    .command('rotate')
    .description('a new key now, same binding; the old one works for the grace period (default 24 h)')
    .argument('[key_id]')
    .option('--grace <seconds>', 'how long the old key keeps working')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_id: unknown, o: { grace?: string; json?: boolean }, cmd: Command) => {
        const id = only(cmd, 'key id');
        const grace = wholeSeconds(o.grace, 'grace');
        const r = await ingest.call<NewKey>(io, 'POST', `/v1/keys/${encodeURIComponent(id)}/rotate`, {
          ...(grace !== undefined ? { grace_seconds: grace } : {}),
        });
        out(
          io,
          r,
          o.json,
          `key_id ${r.id}\nkey    ${r.key}\nagent  ${bindingText(r)}\n${SHOWN_ONCE}\n` +
            `old key ${r.replaces} keeps working until ${r.old_key_valid_until}`,
        );
        return EXIT.ok;
      }),
    );

  const hooks = group(
    program,
    'webhooks',
    'Standard Webhooks sources (INGEST_URL; admin)',
    (sub) => `unknown webhooks command "${sub}"`,
  );
  hooks
    .command('create')
    .description('a new source; its whsec_ secret is shown once')
    .argument('[source]')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_s: unknown, o: { json?: boolean }, cmd: Command) => {
        const r = await ingest.call<NewSecret>(io, 'POST', '/v1/webhooks/sources', { name: only(cmd, 'source name') });
        out(
          io,
          r,
          o.json,
          `source ${r.name}\nsecret ${r.secret}\n(the secret is shown only now)\n` +
            `deliver to ${await ingest.base(io.env)}/v1/webhooks/${r.name}`,
        );
        return EXIT.ok;
      }),
    );
  hooks
    .command('list')
    .description("sources and their secrets' validity (never the secrets)")
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (o: { json?: boolean }) => {
        const r = await ingest.call<{ sources: SourceView[] }>(io, 'GET', '/v1/webhooks/sources');
        out(io, r.sources, o.json, formatSources(r.sources));
        return EXIT.ok;
      }),
    );
  hooks
    .command('rotate')
    .description('a new secret; the old one stays valid for the grace period')
    .argument('[source]')
    .option('--grace <seconds>', 'how long the old secret stays valid')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_s: unknown, o: { grace?: string; json?: boolean }, cmd: Command) => {
        const name = only(cmd, 'source name');
        const grace = wholeSeconds(o.grace, 'grace');
        const r = await ingest.call<NewSecret>(io, 'POST', `/v1/webhooks/sources/${encodeURIComponent(name)}/rotate`, {
          ...(grace !== undefined ? { grace_seconds: grace } : {}),
        });
        out(
          io,
          r,
          o.json,
          `source ${r.name}\nsecret ${r.secret}\n(the secret is shown only now)\nthe previous secret stays valid until ${r.previous_valid_until}`,
        );
        return EXIT.ok;
      }),
    );
  hooks
    .command('delete')
    .description('deliveries to it are refused from now on')
    .argument('[source]')
    .allowExcessArguments()
    .action(
      act(ctx, async (_s: unknown, _o: unknown, cmd: Command) => {
        const name = only(cmd, 'source name');
        await ingest.call(io, 'DELETE', `/v1/webhooks/sources/${encodeURIComponent(name)}`);
        io.stdout.write(`deleted ${name}\n`);
        return EXIT.ok;
      }),
    );
}

export const keysCommands: CommandModule = { usage, register, defaults: { keys: 'list', webhooks: 'list' } };
