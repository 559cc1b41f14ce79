import { MAX_SUBMISSION_BYTES, Subjects, TaskReceivedData, TaskRejectedData, EnvelopeBase } from '@warden/contracts';
import { makeEnvelope } from '@warden/bus';
import { deriveId } from '@warden/kernel';
import { parseTraceparent } from '@warden/observability';
import {
  busSource,
  classifyConflict,
  collidingRows,
  incomingTraceId,
  insertedMask,
  parseSubmission,
  receivedEnvelope,
  rejectedEnvelope,
  rejectionToken,
  resolveBatch,
  runIdFor,
  subjectRoleErrors,
  traceIdFor,
  type Candidate,
  type ExistingSubmission,
} from './submission';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const valid = { agent: { id: 'agent-7', role: 'dev' }, action: { tool: 'fs.write_file', args: { path: 'a.md' } } };
const src = busSource({ stream: 'WARDEN_INGEST', seq: 42, msgId: 'key-1' });
const T0 = new Date('2026-01-01T00:00:00.000Z');

describe('parseSubmission', () => {
  it('accepts a valid submission and normalises defaults (action.args)', () => {
    const r = parseSubmission(enc({ agent: { id: 'a', role: 'dev' }, action: { tool: 'git.status' } }));
    expect(r).toEqual({
      ok: true,
      submission: { agent: { id: 'a', role: 'dev' }, action: { tool: 'git.status', args: {} } },
    });
  });

  it('rejects a payload over 256 KiB with an error on the root path, naming the size', () => {
    const big = enc({ ...valid, intent: 'x', metadata: { blob: 'y'.repeat(MAX_SUBMISSION_BYTES) } });
    const r = parseSubmission(big);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('too_large');
    expect(r.errors).toEqual([{ path: '', message: expect.stringMatching(/limit is 262144 bytes \(256 KiB\)/) }]);
    expect(r.agentId).toBe('agent-7');
  });

  it('accepts a payload of exactly 256 KiB as far as size goes', () => {
    const base = JSON.stringify({ ...valid, intent: '' });
    const pad = MAX_SUBMISSION_BYTES - base.length;
    const body = JSON.stringify({ ...valid, intent: '' }).replace('"intent":""', `"intent":""${' '.repeat(pad)}`);
    expect(Buffer.byteLength(body)).toBe(MAX_SUBMISSION_BYTES);
    expect(parseSubmission(enc(body)).ok).toBe(true);
  });

  it('rejects bytes that are not UTF-8', () => {
    const r = parseSubmission(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    expect(r).toEqual({ ok: false, reason: 'malformed', errors: [{ path: '', message: 'body is not valid UTF-8' }] });
  });

  it('rejects text that is not JSON', () => {
    const r = parseSubmission(enc('hello {'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('malformed');
    expect(r.errors[0]).toEqual({ path: '', message: expect.stringMatching(/^body is not valid JSON/) });
  });

  it('rejects JSON that is not an object on the root path', () => {
    const r = parseSubmission(enc('[1,2]'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('invalid');
    expect(r.errors.map((e) => e.path)).toEqual(['']);
  });

  it('reports every schema error with its field path, and the agent id when readable', () => {
    const r = parseSubmission(
      enc({
        agent: { id: 'agent-9', role: 'Dev' },
        action: { tool: 'WriteFile' },
        idempotencyKey: 'k',
        run_id: 'nope',
      }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('invalid');
    const paths = r.errors.map((e) => e.path).sort();
    expect(paths).toEqual(['action.tool', 'agent.role', 'idempotencyKey', 'run_id']);
    expect(r.errors.find((e) => e.path === 'action.tool')!.message).toMatch(/namespace\.verb/);
    expect(r.errors.find((e) => e.path === 'idempotencyKey')!.message).toBe('unknown field');
    expect(r.agentId).toBe('agent-9');
  });

  it('refuses NUL anywhere (no store downstream can hold it), naming each path', () => {
    const r = parseSubmission(
      enc({
        ...valid,
        agent: { id: 'a\u0000b', role: 'dev' },
        idempotency_key: 'k\u0000',
        metadata: { deep: ['ok', { 'k\u0000ey': 1 }] },
      }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path).sort()).toEqual(['agent.id', 'idempotency_key', 'metadata.deep.1.k\\u0000ey']);
    for (const e of r.errors) expect(e.message).toMatch(/must not contain NUL \(U\+0000\) characters$/);
  });

  it('refuses (never normalises) lone surrogates, overflowing numbers and deep nesting, naming each path', () => {
    const deep = '['.repeat(3000) + ']'.repeat(3000);
    const text = JSON.stringify({ ...valid, intent: 'x\ud800', metadata: { n: 1 } })
      .replace('"n":1', `"n":1e400,"d":${deep}`)
      .replace('"a.md"', '"a.md\\udbff"');
    const r = parseSubmission(enc(text));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('invalid');
    expect(r.agentId).toBe('agent-7');
    expect(r.errors.map((e) => e.path).sort()).toEqual([
      'action.args.path',
      'intent',
      'metadata.d.' + Array(62).fill('0').join('.'),
      'metadata.n',
    ]);
  });

  it('names missing required fields', () => {
    const r = parseSubmission(enc({ action: { tool: 'fs.read_file' } }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toEqual(['agent']);
    expect(r.agentId).toBeUndefined();
  });
});

describe('ids', () => {
  it('keeps a client run_id', () => {
    const runId = '0b0e3a4e-3c2f-4b7e-9d0a-1b2c3d4e5f60';
    expect(runIdFor({ ...valid, run_id: runId, action: { ...valid.action } }, src)).toBe(runId);
  });

  it('derives the run id from stream + sequence, so a redelivery gets the same one', () => {
    const sub = { ...valid, action: { ...valid.action } };
    expect(runIdFor(sub, src)).toBe(deriveId('run', 'WARDEN_INGEST', '42'));
    expect(runIdFor(sub, busSource({ stream: 'WARDEN_INGEST', seq: 42 }))).toBe(runIdFor(sub, src));
    expect(runIdFor(sub, busSource({ stream: 'WARDEN_INGEST', seq: 43 }))).not.toBe(runIdFor(sub, src));
  });

  it('takes the trace id from a valid traceparent', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(traceIdFor(busSource({ stream: 'S', seq: 1, traceparent: tp }))).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('reads a traceparent by the rule of parseTraceparent (@warden/observability)', () => {
    const cases = [
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      'garbage',
      '',
      undefined,
    ];
    for (const tp of cases) expect(incomingTraceId(tp)).toBe(parseTraceparent(tp)?.traceId);
    expect(incomingTraceId(cases[1])).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('derives a stable W3C trace id when traceparent is absent or malformed', () => {
    const a = traceIdFor(busSource({ stream: 'S', seq: 1 }));
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdFor(busSource({ stream: 'S', seq: 1, traceparent: 'garbage' }))).toBe(a);
    expect(traceIdFor(busSource({ stream: 'S', seq: 2 }))).not.toBe(a);
  });

  it('uses the message id as rejection token when it is a subject token, else a derived uuid', () => {
    expect(rejectionToken(src)).toBe('key-1');
    const odd = busSource({ stream: 'S', seq: 7, msgId: 'has.dots and spaces' });
    expect(rejectionToken(odd)).toBe(deriveId('task_rejected', 'S', '7'));
    expect(rejectionToken(busSource({ stream: 'S', seq: 7 }))).toBe(deriveId('task_rejected', 'S', '7'));
  });

  it('reports the broker message id as source_id, else stream:seq', () => {
    expect(src.sourceId).toBe('key-1');
    expect(busSource({ stream: 'S', seq: 9 }).sourceId).toBe('S:9');
  });
});

describe('envelopes', () => {
  it('task_received: deterministic id, run id in envelope and submission, valid against the contract', () => {
    const p = parseSubmission(enc({ ...valid, idempotency_key: 'k1' }));
    if (!p.ok) throw new Error('fixture invalid');
    const env = receivedEnvelope(p.submission, src, T0);
    expect(env.id).toBe(deriveId('task_received', 'WARDEN_INGEST', '42'));
    expect(env.run_id).toBe(deriveId('run', 'WARDEN_INGEST', '42'));
    expect(env.correlation_id).toBe(env.run_id);
    expect(env.producer).toBe('ingest');
    expect(env.data).toEqual({
      submission: { ...p.submission, run_id: env.run_id },
      channel: 'bus',
      source_id: 'key-1',
    });
    expect(EnvelopeBase.safeParse(env).success).toBe(true);
    expect(TaskReceivedData.safeParse(env.data).success).toBe(true);
    expect(receivedEnvelope(p.submission, src, T0)).toEqual(env);
  });

  it('task_rejected: no run, correlated by the rejection token, deterministic id, valid against the contract', () => {
    const errors = [{ path: 'agent.role', message: 'Required' }];
    const env = rejectedEnvelope(errors, src, 'agent-7', T0);
    expect(env.run_id).toBeNull();
    expect(env.correlation_id).toBe('key-1');
    expect(env.id).toBe(deriveId('task_rejected', 'WARDEN_INGEST', '42'));
    expect(env.data).toEqual({ errors, channel: 'bus', source_id: 'key-1', agent_id: 'agent-7' });
    expect(EnvelopeBase.safeParse(env).success).toBe(true);
    expect(TaskRejectedData.safeParse(env.data).success).toBe(true);
    expect('agent_id' in rejectedEnvelope(errors, src, undefined, T0).data).toBe(false);
  });

  it('are exactly what makeEnvelope (@warden/bus) builds, field order included', () => {
    const p = parseSubmission(enc({ ...valid, run_id: '0190a5a4-7c3e-7b1e-9a4f-3c2d1e0f9a8b' }));
    if (!p.ok) throw new Error('fixture invalid');
    const http = { ...src, channel: 'http' as const, submittedBy: { kind: 'api_key' as const, id: 'key-9' } };
    const received = receivedEnvelope(p.submission, http, T0);
    const built = makeEnvelope({
      type: 'task_received',
      id: deriveId('task_received', ...http.key),
      runId: '0190a5a4-7c3e-7b1e-9a4f-3c2d1e0f9a8b',
      producer: 'ingest',
      traceId: traceIdFor(http),
      occurredAt: T0,
      data: received.data,
    });
    expect(received).toStrictEqual(built);
    expect(JSON.stringify(received)).toBe(JSON.stringify(built));
    const errors = [{ path: '', message: 'bad' }];
    const rejected = rejectedEnvelope(errors, src, undefined, T0);
    const builtRejected = makeEnvelope({
      type: 'task_rejected',
      id: deriveId('task_rejected', ...src.key),
      runId: null,
      correlationId: 'key-1',
      producer: 'ingest',
      traceId: traceIdFor(src),
      occurredAt: T0,
      data: { errors, channel: 'bus', source_id: 'key-1' },
    });
    expect(JSON.stringify(rejected)).toBe(JSON.stringify(builtRejected));
  });
});

describe('classifyConflict', () => {
  const row = (o: Partial<ExistingSubmission>): ExistingSubmission => ({
    runId: 'r1',
    agentId: 'a',
    idempotencyKey: 'k',
    eventId: 'e1',
    createdAt: T0,
    ...o,
  });

  it('recognises its own earlier attempt by event id (redelivery after a crash)', () => {
    expect(classifyConflict({ eventId: 'e1', agentId: 'a', idempotencyKey: 'k' }, [row({})])).toEqual({
      kind: 'redelivery',
      existing: row({}),
    });
  });

  it('same agent + idempotency key from another delivery is a duplicate of the first run', () => {
    const c = classifyConflict({ eventId: 'e2', agentId: 'a', idempotencyKey: 'k' }, [row({})]);
    expect(c).toEqual({ kind: 'duplicate', existing: row({}) });
  });

  it('a duplicate wins over a run_id clash with another submission', () => {
    const c = classifyConflict({ eventId: 'e3', agentId: 'a', idempotencyKey: 'k' }, [
      row({ runId: 'r9', agentId: 'b', idempotencyKey: null, eventId: 'e9' }),
      row({}),
    ]);
    expect(c.kind).toBe('duplicate');
  });

  it('a run_id owned by a different submission is refused on the run_id field', () => {
    const other = [row({ agentId: 'b' })];
    expect(classifyConflict({ eventId: 'e2', agentId: 'a', idempotencyKey: 'k' }, other)).toEqual({
      kind: 'run_id_in_use',
      errors: [{ path: 'run_id', message: 'run_id already in use' }],
    });
    expect(classifyConflict({ eventId: 'e2', agentId: 'a' }, [row({ idempotencyKey: null })]).kind).toBe(
      'run_id_in_use',
    );
  });
});

describe('resolveBatch', () => {
  const cand = (o: Partial<Candidate>): Candidate => ({
    runId: 'r1',
    eventId: 'e1',
    agentId: 'a',
    idempotencyKey: null,
    ...o,
  });
  const stored = (c: Candidate): ExistingSubmission => ({
    runId: c.runId,
    agentId: c.agentId,
    idempotencyKey: c.idempotencyKey ?? null,
    eventId: c.eventId,
    createdAt: T0,
  });

  it('marks the inserted candidates; a repeated event id counts once, for the first', () => {
    const cs = [cand({}), cand({ runId: 'r2', eventId: 'E2' }), cand({ runId: 'r3', eventId: 'e1' })];
    expect(insertedMask(cs, ['e1', 'e2'])).toEqual([true, true, false]);
    expect(insertedMask(cs, [])).toEqual([false, false, false]);
  });

  it('two candidates with the same agent + key in one batch: the first is the run, the second its duplicate', () => {
    const first = cand({ idempotencyKey: 'k' });
    const second = cand({ runId: 'r2', eventId: 'e2', idempotencyKey: 'k' });
    const res = resolveBatch([first, second], ['e1'], [stored(first)]);
    expect(res).toEqual([{ kind: 'inserted' }, { kind: 'duplicate', existing: stored(first) }]);
  });

  it('two candidates with the same client run id but different submissions: the second is refused on run_id', () => {
    const first = cand({ runId: 'R', agentId: 'a' });
    const second = cand({ runId: 'r', eventId: 'e2', agentId: 'b' });
    const res = resolveBatch([first, second], ['e1'], [stored(first)]);
    expect(res[0]).toEqual({ kind: 'inserted' });
    expect(res[1]).toEqual({ kind: 'run_id_in_use', errors: [{ path: 'run_id', message: 'run_id already in use' }] });
  });

  it('the same delivery twice in one batch is inserted once and redelivered once', () => {
    const c = cand({});
    expect(resolveBatch([c, c], ['e1'], [stored(c)])).toEqual([
      { kind: 'inserted' },
      { kind: 'redelivery', existing: stored(c) },
    ]);
  });

  it('only considers the rows a candidate collides with, and reports a vanished row', () => {
    const mine = cand({ idempotencyKey: 'k' });
    const unrelated = stored(cand({ runId: 'r9', eventId: 'e9', agentId: 'z', idempotencyKey: 'k' }));
    expect(collidingRows(mine, [unrelated])).toEqual([]);
    expect(resolveBatch([mine], [], [unrelated])).toEqual([{ kind: 'vanished' }]);
    const keyless = cand({ runId: 'r5', eventId: 'e5' });
    const keylessRow = stored(cand({ runId: 'r6', eventId: 'e6' }));
    expect(collidingRows(keyless, [keylessRow])).toEqual([]);
  });

  it('an earlier delivery stored before the batch is recognised by event id', () => {
    const c = cand({ runId: 'r1', eventId: 'e1', idempotencyKey: 'k' });
    expect(resolveBatch([c], [], [stored(c)])).toEqual([{ kind: 'redelivery', existing: stored(c) }]);
  });
});

describe('the per-role bus subject binds the role', () => {
  const subjects = new Subjects('warden');
  const on = (subject: string) =>
    busSource({ stream: 'WARDEN_INGEST', seq: 1, subjectRole: subjects.ingestTaskRole(subject) });

  it('reads the role from warden.ingest.tasks.<role> only', () => {
    expect(subjects.ingestTaskRole('warden.ingest.tasks.dev')).toBe('dev');
    expect(subjects.ingestTaskRole('warden.ingest.tasks')).toBeUndefined();
    expect(subjects.ingestTaskRole('warden.ingest.tasks.dev.x')).toBeUndefined();
    expect(subjects.ingestTaskRole('other.ingest.tasks.dev')).toBeUndefined();
    expect(subjects.ingestTasksOf('dev')).toBe('warden.ingest.tasks.dev');
  });

  it('a submission of another role than the subject is refused on agent.role; the unscoped subject binds none', () => {
    expect(subjectRoleErrors({ agent: { id: 'a', role: 'dev' } }, on('warden.ingest.tasks.dev'))).toEqual([]);
    expect(subjectRoleErrors({ agent: { id: 'a', role: 'ops' } }, on('warden.ingest.tasks.dev'))).toEqual([
      { path: 'agent.role', message: expect.stringContaining('"dev"') },
    ]);
    expect(subjectRoleErrors({ agent: { id: 'a', role: 'ops' } }, on('warden.ingest.tasks'))).toEqual([]);
  });
});
