'use strict';
/**
 * `warden audit …`: the audit hash chain on the orchestrator (ORCHESTRATOR_URL, default
 * http://127.0.0.1:7103). `key` prints the audit public keys (no token needed), `export` streams the
 * chain (viewer token) as JSON lines or OCSF, `verify` proves an export (or the live chain) complete and
 * unaltered: exit 3 naming every deleted, reordered, edited or truncated record and forged checkpoint.
 */
const fs = require('node:fs');
const { createInterface } = require('node:readline');
const { Readable } = require('node:stream');
const { UsageError, parseFlags, positiveInt } = require('./args');
const { CliError, apiClient, command, describeProblem, authHint, operatorToken } = require('./http');
const { out } = require('./format');
const { sinceTime } = require('./dlq');
const { createVerifier } = require('./audit-verify');

const usage = `Audit chain (ORCHESTRATOR_URL, default http://127.0.0.1:7103):
  audit key [--json]                         the audit public keys (current and earlier) that sign checkpoints
  audit export [--since 24h|<iso time>] [--from-seq n] [--format jsonl|ocsf] [--out file]
                                             stream the chain (viewer token): jsonl = a signed head, then
                                             records and checkpoints; ocsf = OCSF 1.3 API Activity events.
                                             A progress bar on a terminal
  audit verify [--file export.jsonl] [--key <base64>[,<base64>…]] [--json]
                                             prove the chain (or an export file) complete and unaltered;
                                             keys from --key, else the orchestrator's; exit 3 if not`;

const orchestrator = apiClient({
  name: 'the orchestrator',
  urlVar: 'ORCHESTRATOR_URL',
  defaultUrl: 'http://127.0.0.1:7103',
  forbidden: 'the token lacks the role this needs (viewer)',
});

/** The export as a web response (streaming); a refusal becomes a CliError. */
async function openExport(io, query) {
  const url = `${orchestrator.base(io.env)}/v1/audit/export${query.size ? `?${query}` : ''}`;
  const token = operatorToken(io.env, io.root);
  let res;
  try {
    res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (err) {
    throw new CliError(`cannot reach the orchestrator at ${url}: ${err.cause?.code || err.message}`);
  }
  if (res.status !== 200) {
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    const r = { status: res.status, body, hadToken: Boolean(token) };
    const hint = authHint(r, 'the token lacks the role this needs (viewer)');
    throw new CliError(describeProblem(r) + (hint ? `\n${hint}` : ''));
  }
  return res;
}

/** Lines of a web response body or a file. */
function linesOf(source) {
  const input = typeof source === 'string' ? fs.createReadStream(source) : Readable.fromWeb(source.body);
  return createInterface({ input, crlfDelay: Infinity });
}

/** A one-line progress bar on a terminal; nothing otherwise. */
function progress(io, total) {
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

function exportQuery(flags) {
  const q = new URLSearchParams();
  if (flags.since) q.set('since', sinceTime(flags.since));
  if (flags['from-seq']) q.set('from_seq', String(positiveInt(flags['from-seq'], 'from-seq')));
  if (flags.format) {
    if (!['jsonl', 'ocsf'].includes(flags.format)) throw new UsageError('--format must be jsonl or ocsf');
    q.set('format', flags.format);
  }
  return q;
}

/** `--key a,b` (raw base64 public keys, optionally `key_id=`), else the orchestrator's published keys. */
async function verifyKeys(io, flags) {
  if (flags.key) {
    return flags.key
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
  const r = await orchestrator.call(io, 'GET', '/v1/audit/keys');
  return r.keys;
}

function formatReport(r) {
  const lines = [];
  if (r.ok) {
    lines.push(
      `ok: ${r.records} records (seq ${r.first_seq ?? '-'}..${r.last_seq ?? '-'}), ${r.checkpoints} signed checkpoints, ` +
        `head ${r.head.up_to_seq} ${r.head.head_hash} signed by ${r.head.key_id}`,
    );
  } else {
    lines.push(`FAILED: ${r.problems.length} problem(s) in ${r.records} records`);
    for (const p of r.problems) lines.push(`  ${p.kind}: ${p.message}`);
  }
  return lines.join('\n');
}

const commands = {
  audit: command(async (argv, io) => {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'key':
      case 'keys': {
        const { flags } = parseFlags(rest, { json: 'boolean' });
        const r = await orchestrator.call(io, 'GET', '/v1/audit/keys');
        out(
          io,
          r,
          flags.json,
          r.keys.map((k) => `${k.key_id}  ${k.public_key}  ${k.current ? 'current' : 'earlier'}`).join('\n'),
        );
        return 0;
      }
      case 'export': {
        const { flags, positionals } = parseFlags(rest, {
          since: 'string',
          'from-seq': 'string',
          format: 'string',
          out: 'string',
        });
        if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        const res = await openExport(io, exportQuery(flags));
        const bar = progress(io, Number(res.headers.get('x-warden-audit-records') || 0));
        const sink = flags.out ? fs.createWriteStream(flags.out) : io.stdout;
        for await (const line of linesOf(res)) {
          if (!line) continue;
          if (!sink.write(`${line}\n`) && sink.once) await new Promise((ok) => sink.once('drain', ok));
          if (line.includes('"kind":"record"') || line.includes('"class_uid"')) bar.tick();
        }
        bar.end();
        if (flags.out) await new Promise((ok, fail) => sink.end((err) => (err ? fail(err) : ok())));
        return 0;
      }
      case 'verify': {
        const { flags, positionals } = parseFlags(rest, { file: 'string', key: 'string', json: 'boolean' });
        if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
        const keys = await verifyKeys(io, flags);
        const v = createVerifier(keys);
        const source = flags.file ?? (await openExport(io, new URLSearchParams()));
        if (flags.file && !fs.existsSync(flags.file)) throw new CliError(`no such file: ${flags.file}`);
        let n = 0;
        for await (const line of linesOf(source)) {
          n++;
          if (!line.trim()) continue;
          let item;
          try {
            item = JSON.parse(line);
          } catch {
            item = null;
          }
          v.add(item);
        }
        if (n === 0) throw new CliError('the export is empty');
        const report = v.finish();
        out(io, report, flags.json, formatReport(report));
        return report.ok ? 0 : 3;
      }
      default:
        throw new UsageError(`unknown audit command "${sub}"`);
    }
  }),
};

module.exports = { commands, usage };
