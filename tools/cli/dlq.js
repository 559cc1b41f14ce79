'use strict';
/**
 * `warden dlq …`: dead letters as an operator handles them, on the orchestrator (ORCHESTRATOR_URL,
 * default http://127.0.0.1:7103; admin token): list, show why one died, redrive it once, discard it.
 */
const { UsageError, parseFlags, positiveInt } = require('./args');
const { apiClient, command } = require('./http');
const { table, out } = require('./format');

const usage = `Dead letters (ORCHESTRATOR_URL, default http://127.0.0.1:7103; admin token):
  dlq list [--service s] [--consumer c] [--code C] [--reason forged|invalid|refused|max_deliveries|<words>]
           [--since 24h|<iso time>] [--status pending|redriven|discarded] [--limit n] [--cursor c] [--json]
                                             dead letters, newest first: why, from where, handled or not
  dlq show <seq> [--json]                    one dead letter: why it died, its headers and body
  dlq redrive <seq> [--comment text] [--json]
                                             re-publish it once to its original subject (the original bytes,
                                             never re-signed); 409 if already redriven or discarded
  dlq discard <seq> [--reason text] [--json] mark it handled without re-publishing it`;

const orchestrator = apiClient({
  name: 'the orchestrator',
  urlVar: 'ORCHESTRATOR_URL',
  defaultUrl: 'http://127.0.0.1:7103',
  forbidden: 'the token lacks the role this needs (admin)',
});

/** `24h`, `30m`, `7d`, `90s` before `now`, or an ISO time as it is. */
function sinceTime(value, now = Date.now()) {
  const m = /^(\d+)([smhd])$/.exec(value);
  if (m) return new Date(now - Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2]]).toISOString();
  if (Number.isNaN(Date.parse(value))) throw new UsageError(`--since must be like 24h, 30m, 7d or an ISO time`);
  return new Date(value).toISOString();
}

function one(positionals, what) {
  if (positionals.length !== 1) throw new UsageError(`needs exactly one ${what}`);
  if (!/^[1-9][0-9]*$/.test(positionals[0])) throw new UsageError(`${what} must be a dead letter's sequence number`);
  return positionals[0];
}

function formatList(rows) {
  if (rows.length === 0) return 'no dead letters';
  return table([
    ['SEQ', 'DEAD AT', 'CONSUMER', 'CODE', 'STATUS', 'SUBJECT', 'REASON'],
    ...rows.map((d) => [
      d.dlq_seq,
      d.dead_at,
      d.consumer,
      d.code,
      d.status === 'pending' ? 'pending' : `${d.status} by ${d.handled_by}`,
      d.original_subject,
      d.reason.length > 60 ? `${d.reason.slice(0, 57)}...` : d.reason,
    ]),
  ]);
}

function formatOne(d) {
  const lines = [
    `dead letter ${d.dlq_seq} (${d.dlq_subject}), dead at ${d.dead_at}`,
    `why:      ${d.consumer} refused it: ${d.code} (${d.category}) ${d.reason}`,
    `from:     ${d.original_subject}${d.original_stream ? ` (${d.original_stream} seq ${d.original_seq})` : ''}` +
      (d.deliveries ? `, ${d.deliveries} deliveries` : ''),
    `status:   ${d.status}${d.handled_by ? ` by ${d.handled_by} at ${d.handled_at}` : ''}${d.note ? `: ${d.note}` : ''}` +
      (d.redrive_msg_id ? ` (as ${d.redrive_msg_id}, seq ${d.redrive_seq})` : ''),
    'headers:',
    ...Object.entries(d.headers || {}).map(([k, v]) => `  ${k}: ${v}`),
    'body:',
    d.body !== undefined ? JSON.stringify(d.body, null, 2) : `(base64) ${d.body_base64}`,
  ];
  return lines.join('\n');
}

const commands = {
  dlq: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'list':
      case undefined: {
        const { flags, positionals } = parseFlags(rest, {
          service: 'string',
          consumer: 'string',
          code: 'string',
          reason: 'string',
          since: 'string',
          status: 'string',
          limit: 'string',
          cursor: 'string',
          json: 'boolean',
        });
        if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        const q = new URLSearchParams();
        for (const k of ['service', 'consumer', 'code', 'reason', 'status', 'cursor']) if (flags[k]) q.set(k, flags[k]);
        if (flags.since) q.set('since', sinceTime(flags.since));
        if (flags.limit) q.set('limit', String(positiveInt(flags.limit, 'limit')));
        const r = await orchestrator.call(io, 'GET', `/v1/dead-letters${q.size ? `?${q}` : ''}`);
        out(
          io,
          r,
          flags.json,
          formatList(r.dead_letters) + (r.next_cursor ? `\n(more: --cursor ${r.next_cursor})` : ''),
        );
        return 0;
      }
      case 'show': {
        const { flags, positionals } = parseFlags(rest, { json: 'boolean' });
        const r = await orchestrator.call(io, 'GET', `/v1/dead-letters/${one(positionals, 'seq')}`);
        out(io, r, flags.json, formatOne(r));
        return 0;
      }
      case 'redrive': {
        const { flags, positionals } = parseFlags(rest, { comment: 'string', json: 'boolean' });
        const seq = one(positionals, 'seq');
        const r = await orchestrator.call(io, 'POST', `/v1/dead-letters/${seq}/redrive`, {
          ...(flags.comment ? { comment: flags.comment } : {}),
        });
        out(
          io,
          r,
          flags.json,
          `redriven ${r.dlq_seq} to ${r.original_subject} as ${r.redrive_msg_id} (seq ${r.redrive_seq})`,
        );
        return 0;
      }
      case 'discard': {
        const { flags, positionals } = parseFlags(rest, { reason: 'string', json: 'boolean' });
        const seq = one(positionals, 'seq');
        const r = await orchestrator.call(io, 'POST', `/v1/dead-letters/${seq}/discard`, {
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        out(io, r, flags.json, `discarded ${r.dlq_seq} (${r.original_subject})`);
        return 0;
      }
      default:
        throw new UsageError(`unknown dlq command "${sub}"`);
    }
  }),
};

module.exports = { commands, usage, sinceTime };
