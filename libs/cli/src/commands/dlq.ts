/**
 * `warden dlq …`: dead letters as an operator handles them, on the orchestrator (ORCHESTRATOR_URL;
 * admin token): list, show why one died, redrive it once, discard it.
 */
import type { Command } from 'commander';
import { positiveInt, sinceTime } from '../args';
import { EXIT, UsageError } from '../errors';
import { out, table } from '../format';
import { api } from '../http';
import { act, group, type CommandModule, type Context } from '../program';

const usage = `Dead letters (ORCHESTRATOR_URL, default {orchestrator}; admin token):
  dlq list [--service s] [--consumer c] [--code C] [--reason forged|invalid|refused|max_deliveries|<words>]
           [--since 24h|<iso time>] [--status pending|redriven|discarded] [--limit n] [--cursor c] [--json]
                                             dead letters, newest first: why, from where, handled or not
  dlq show <seq> [--json]                    one dead letter: why it died, its headers and body
  dlq redrive <seq> [--comment text] [--json]
                                             re-publish it once to its original subject (the original bytes,
                                             never re-signed); 409 if already redriven or discarded
  dlq discard <seq> [--reason text] [--json] mark it handled without re-publishing it`;

/** A dead letter as the orchestrator shows it. */
export interface DeadLetterView {
  dlq_seq: number;
  dlq_subject: string;
  dead_at: string;
  consumer: string;
  code: string;
  category: string;
  reason: string;
  status: string;
  handled_by?: string | null;
  handled_at?: string | null;
  note?: string | null;
  original_subject: string;
  original_stream?: string | null;
  original_seq?: number | null;
  deliveries?: number | null;
  redrive_msg_id?: string | null;
  redrive_seq?: number | null;
  headers?: Record<string, string>;
  body?: unknown;
  body_base64?: string;
}

interface ListOptions {
  service?: string;
  consumer?: string;
  code?: string;
  reason?: string;
  since?: string;
  status?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
}

const orchestrator = api.orchestrator('the token lacks the role this needs (admin)');

function seqOf(args: readonly string[]): string {
  if (args.length !== 1 || args[0] === undefined) throw new UsageError('needs exactly one seq');
  if (!/^[1-9][0-9]*$/.test(args[0])) throw new UsageError("seq must be a dead letter's sequence number");
  return args[0];
}

export function formatList(rows: readonly DeadLetterView[]): string {
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

export function formatOne(d: DeadLetterView): string {
  return [
    `dead letter ${d.dlq_seq} (${d.dlq_subject}), dead at ${d.dead_at}`,
    `why:      ${d.consumer} refused it: ${d.code} (${d.category}) ${d.reason}`,
    `from:     ${d.original_subject}${d.original_stream ? ` (${d.original_stream} seq ${d.original_seq})` : ''}` +
      (d.deliveries ? `, ${d.deliveries} deliveries` : ''),
    `status:   ${d.status}${d.handled_by ? ` by ${d.handled_by} at ${d.handled_at}` : ''}${d.note ? `: ${d.note}` : ''}` +
      (d.redrive_msg_id ? ` (as ${d.redrive_msg_id}, seq ${d.redrive_seq})` : ''),
    'headers:',
    ...Object.entries(d.headers ?? {}).map(([k, v]) => `  ${k}: ${v}`),
    'body:',
    d.body !== undefined ? JSON.stringify(d.body, null, 2) : `(base64) ${d.body_base64}`,
  ].join('\n');
}

function register(program: Command, ctx: Context): void {
  const io = ctx.io;
  const dlq = group(program, 'dlq', 'dead letters (ORCHESTRATOR_URL; admin)', (sub) => `unknown dlq command "${sub}"`);
  dlq
    .command('list')
    .description('dead letters, newest first: why, from where, handled or not')
    .option('--service <s>', 'from this service')
    .option('--consumer <c>', 'refused by this consumer')
    .option('--code <C>', 'with this error code')
    .option('--reason <r>', 'forged, invalid, refused, max_deliveries or words of the reason')
    .option('--since <when>', '24h, 30m, 7d or an ISO time')
    .option('--status <s>', 'pending, redriven or discarded')
    .option('--limit <n>', 'at most n')
    .option('--cursor <c>', 'the next page')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (o: ListOptions, cmd: Command) => {
        if (cmd.args.length) throw new UsageError(`unexpected argument "${cmd.args[0]}"`);
        const q = new URLSearchParams();
        for (const k of ['service', 'consumer', 'code', 'reason', 'status', 'cursor'] as const) {
          const v = o[k];
          if (v) q.set(k, v);
        }
        if (o.since) q.set('since', sinceTime(o.since));
        if (o.limit) q.set('limit', String(positiveInt(o.limit, 'limit')));
        const r = await orchestrator.call<{ dead_letters: DeadLetterView[]; next_cursor?: string }>(
          io,
          'GET',
          `/v1/dead-letters${q.size ? `?${q}` : ''}`,
        );
        out(io, r, o.json, formatList(r.dead_letters) + (r.next_cursor ? `\n(more: --cursor ${r.next_cursor})` : ''));
        return EXIT.ok;
      }),
    );
  dlq
    .command('show')
    .description('one dead letter: why it died, its headers and body')
    .argument('[seq]')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_s: unknown, o: { json?: boolean }, cmd: Command) => {
        const r = await orchestrator.call<DeadLetterView>(io, 'GET', `/v1/dead-letters/${seqOf(cmd.args)}`);
        out(io, r, o.json, formatOne(r));
        return EXIT.ok;
      }),
    );
  dlq
    .command('redrive')
    .description('re-publish it once to its original subject (the original bytes, never re-signed)')
    .argument('[seq]')
    .option('--comment <text>', 'a note')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_s: unknown, o: { comment?: string; json?: boolean }, cmd: Command) => {
        const seq = seqOf(cmd.args);
        const r = await orchestrator.call<DeadLetterView>(io, 'POST', `/v1/dead-letters/${seq}/redrive`, {
          ...(o.comment ? { comment: o.comment } : {}),
        });
        out(
          io,
          r,
          o.json,
          `redriven ${r.dlq_seq} to ${r.original_subject} as ${r.redrive_msg_id} (seq ${r.redrive_seq})`,
        );
        return EXIT.ok;
      }),
    );
  dlq
    .command('discard')
    .description('mark it handled without re-publishing it')
    .argument('[seq]')
    .option('--reason <text>', 'why')
    .option('--json', 'as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, async (_s: unknown, o: { reason?: string; json?: boolean }, cmd: Command) => {
        const seq = seqOf(cmd.args);
        const r = await orchestrator.call<DeadLetterView>(io, 'POST', `/v1/dead-letters/${seq}/discard`, {
          ...(o.reason ? { reason: o.reason } : {}),
        });
        out(io, r, o.json, `discarded ${r.dlq_seq} (${r.original_subject})`);
        return EXIT.ok;
      }),
    );
}

export const dlqCommands: CommandModule = { usage, register, defaults: { dlq: 'list' } };
