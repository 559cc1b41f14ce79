/**
 * `warden audit …`: the audit hash chain on the orchestrator (ORCHESTRATOR_URL). `key` prints the
 * audit public keys (no token needed), `export` streams the chain (viewer token) as JSON lines or
 * OCSF, `verify` proves an export (or the live chain) complete and unaltered: exit 3 naming every
 * deleted, reordered, edited or truncated record and forged checkpoint.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import type { AuditKey, VerifyReport } from '../audit-verify';
import { positiveInt, sinceTime } from '../args';
import { CliError, EXIT, UsageError } from '../errors';
import { out } from '../format';
import { api, authHint, describeProblem, operatorToken } from '../http';
import type { Io, Output } from '../io';
import { act, group, type CommandModule, type Context } from '../program';

const usage = `Audit chain (ORCHESTRATOR_URL, default {orchestrator}):
  audit key [--json]                         the audit public keys (current and earlier) that sign checkpoints
  audit export [--since 24h|<iso time>] [--from-seq n] [--format jsonl|ocsf] [--out file]
                                             stream the chain (viewer token): jsonl = a signed head, then
                                             records and checkpoints; ocsf = OCSF 1.3 API Activity events.
                                             A progress bar on a terminal
  audit verify [--file export.jsonl] [--key <base64>[,<base64>…]] [--json]
                                             prove the chain (or an export file) complete and unaltered;
                                             keys from --key, else the orchestrator's; exit 3 if not`;

const VIEWER = 'the token lacks the role this needs (viewer)';
const orchestrator = api.orchestrator(VIEWER);

interface ExportOptions {
  since?: string;
  fromSeq?: string;
  format?: string;
  out?: string;
}

/** The export as a web response (streaming); a refusal becomes a CliError. */
async function openExport(io: Io, query: URLSearchParams): Promise<Response> {
  const url = `${await orchestrator.base(io.env)}/v1/audit/export${query.size ? `?${query}` : ''}`;
  const token = operatorToken(io.env, io.root);
  let res: Response;
  try {
    res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    throw new CliError(`cannot reach the orchestrator at ${url}: ${e.cause?.code || e.message}`);
  }
  if (res.status !== 200) {
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    const r = { status: res.status, body, hadToken: Boolean(token) };
    const hint = authHint(r, VIEWER);
    throw new CliError(describeProblem(r) + (hint ? `\n${hint}` : ''));
  }
  return res;
}

/** Lines of a web response body or a file. */
function linesOf(source: string | Response): Interface {
  const input =
    typeof source === 'string'
      ? createReadStream(source)
      : Readable.fromWeb((source.body ?? new ReadableStream()) as WebReadableStream<Uint8Array>);
  return createInterface({ input, crlfDelay: Infinity });
}

/** A one-line progress bar on a terminal; nothing otherwise. */
function progress(io: Io, total: number) {
  const tty = Boolean(io.stderr.isTTY);
  let done = 0;
  let drawn = 0;
  const draw = () => {
    const width = 30;
    const frac = total ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    io.stderr.write(`\r[${bar}] ${done}/${total} records`);
  };
  return {
    tick() {
      done++;
      if (tty && (Date.now() - drawn > 100 || done === total)) {
        drawn = Date.now();
        draw();
      }
    },
    end() {
      if (tty) {
        draw();
        io.stderr.write('\n');
      }
    },
  };
}

function exportQuery(o: ExportOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (o.since) q.set('since', sinceTime(o.since));
  if (o.fromSeq) q.set('from_seq', String(positiveInt(o.fromSeq, 'from-seq')));
  if (o.format) {
    if (!['jsonl', 'ocsf'].includes(o.format)) throw new UsageError('--format must be jsonl or ocsf');
    q.set('format', o.format);
  }
  return q;
}

/** `--key a,b` (raw base64 public keys, optionally `key_id=`), else the orchestrator's published keys. */
async function verifyKeys(io: Io, key: string | undefined): Promise<AuditKey[]> {
  if (key) {
    return key
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean)
      .map((k) => {
        const eq = k.indexOf('=');
        return eq > 0 && eq < 32 && !k.endsWith('=')
          ? { key_id: k.slice(0, eq), public_key: k.slice(eq + 1) }
          : { public_key: k };
      });
  }
  const r = await orchestrator.call<{ keys: AuditKey[] }>(io, 'GET', '/v1/audit/keys');
  return r.keys;
}

export function formatReport(r: VerifyReport): string {
  if (r.ok) {
    return (
      `ok: ${r.records} records (seq ${r.first_seq ?? '-'}..${r.last_seq ?? '-'}), ${r.checkpoints} signed checkpoints, ` +
      `head ${r.head?.up_to_seq} ${r.head?.head_hash} signed by ${r.head?.key_id}`
    );
  }
  return [
    `FAILED: ${r.problems.length} problem(s) in ${r.records} records`,
    ...r.problems.map((p) => `  ${p.kind}: ${p.message}`),
  ].join('\n');
}

async function exportChain(o: ExportOptions, io: Io): Promise<number> {
  const res = await openExport(io, exportQuery(o));
  const bar = progress(io, Number(res.headers.get('x-warden-audit-records') || 0));
  const file = o.out ? createWriteStream(o.out) : undefined;
  const sink: Output = file ?? io.stdout;
  for await (const line of linesOf(res)) {
    if (!line) continue;
    if (sink.write(`${line}\n`) === false && sink.once) await new Promise<void>((ok) => sink.once?.('drain', ok));
    if (line.includes('"kind":"record"') || line.includes('"class_uid"')) bar.tick();
  }
  bar.end();
  if (file) await new Promise<void>((ok, fail) => file.end((err?: Error | null) => (err ? fail(err) : ok())));
  return EXIT.ok;
}

async function verifyChain(o: { file?: string; key?: string; json?: boolean }, io: Io): Promise<number> {
  const keys = await verifyKeys(io, o.key);
  const { createVerifier } = await import('../audit-verify');
  const v = createVerifier(keys);
  if (o.file && !existsSync(o.file)) throw new CliError(`no such file: ${o.file}`);
  const source = o.file ?? (await openExport(io, new URLSearchParams()));
  let n = 0;
  for await (const line of linesOf(source)) {
    n++;
    if (!line.trim()) continue;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      item = null;
    }
    v.add(item);
  }
  if (n === 0) throw new CliError('the export is empty');
  const report = v.finish();
  out(io, report, o.json, formatReport(report));
  return report.ok ? EXIT.ok : EXIT.differs;
}

function register(program: Command, ctx: Context): void {
  const io = ctx.io;
  const audit = group(program, 'audit', 'the audit hash chain (ORCHESTRATOR_URL)', (sub) =>
    sub === undefined ? 'audit needs one of: key, export, verify' : `unknown audit command "${sub}"`,
  );
  audit
    .command('key')
    .alias('keys')
    .description('the audit public keys (current and earlier) that sign checkpoints')
    .option('--json', 'as JSON')
    .action(
      act(ctx, async (o: { json?: boolean }) => {
        const r = await orchestrator.call<{ keys: (AuditKey & { current?: boolean })[] }>(io, 'GET', '/v1/audit/keys');
        out(
          io,
          r,
          o.json,
          r.keys.map((k) => `${k.key_id}  ${k.public_key}  ${k.current ? 'current' : 'earlier'}`).join('\n'),
        );
        return EXIT.ok;
      }),
    );
  audit
    .command('export')
    .description(
      'stream the chain (viewer token): jsonl = a signed head, then records and checkpoints; ocsf = OCSF 1.3',
    )
    .option('--since <when>', '24h, 30m, 7d or an ISO time')
    .option('--from-seq <n>', 'from this record on')
    .option('--format <f>', 'jsonl (default) or ocsf')
    .option('--out <file>', 'write to a file (a progress bar on a terminal)')
    .allowExcessArguments()
    .action(
      act(ctx, (o: ExportOptions, cmd: Command) => {
        if (cmd.args.length) throw new UsageError(`unexpected argument "${cmd.args[0]}"`);
        return exportChain(o, io);
      }),
    );
  audit
    .command('verify')
    .description('prove the chain (or an export file) complete and unaltered; exit 3 if not')
    .option('--file <export.jsonl>', 'an export file (default: the live chain)')
    .option('--key <base64,...>', "audit public keys (default: the orchestrator's)")
    .option('--json', 'the report as JSON')
    .allowExcessArguments()
    .action(
      act(ctx, (o: { file?: string; key?: string; json?: boolean }, cmd: Command) => {
        if (cmd.args.length) throw new UsageError(`unexpected argument "${cmd.args[0]}"`);
        return verifyChain(o, io);
      }),
    );
}

export const auditCommands: CommandModule = { usage, register };
