import { MAX_SUBMISSION_BYTES, type TaskSubmission } from '@warden/contracts';
import { deriveId } from '@warden/kernel';
import {
  decideAdmission,
  screenAtEdge,
  screenSubmission,
  type Admissible,
  type AdmissionState,
} from './admission.decide';
import {
  busSource,
  httpSource,
  mcpSource,
  parseSubmission,
  receivedEnvelope,
  rejectedEnvelope,
  webhookSource,
  type ExistingSubmission,
  type SubmissionSource,
} from './submission';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const T0 = new Date('2026-01-01T00:00:00.000Z');
const NOW = new Date('2026-01-01T00:05:00.000Z');
const CLIENT_RUN = '0190a5a4-7c3e-7b1e-9a4f-3c2d1e0f9a8b';
const body = (o: Record<string, unknown> = {}) => ({
  agent: { id: 'agent-7', role: 'dev' },
  action: { tool: 'fs.write_file', args: { path: 'a.md' } },
  ...o,
});
const valid = (o: Record<string, unknown> = {}): TaskSubmission => {
  const p = parseSubmission(enc(body(o)));
  if (!p.ok) throw new Error('fixture invalid');
  return p.submission;
};
const bus = (seq: number, extra: { subjectRole?: string } = {}) =>
  busSource({ stream: 'WARDEN_INGEST', seq, msgId: `m-${seq}`, ...extra });
const http = (submission: TaskSubmission, requestId = 'req-1') => httpSource({ requestId, submission });

/** An admissible submission as the screening makes it (screened `now`). */
function admissible(source: SubmissionSource, submission: TaskSubmission, now = NOW): Admissible {
  const s = screenSubmission(source, enc(submission), submission, now);
  if (s.kind !== 'admissible') throw new Error('fixture refused');
  return s;
}
/** The stored row of an admissible submission, as written at `createdAt`. */
const storedRow = (a: Admissible, createdAt = T0): ExistingSubmission => ({
  runId: a.row.runId,
  agentId: a.row.agentId,
  idempotencyKey: a.row.idempotencyKey,
  eventId: a.row.eventId,
  createdAt,
});
const nothingStored: AdmissionState = { insertedEventIds: [], stored: [] };

describe('screenSubmission (before anything is stored)', () => {
  it('given valid bytes on the bus, then admissible: its row and task_received carry ids derived from the delivery', () => {
    const s = screenSubmission(bus(42), enc(body({ idempotency_key: 'k1' })), undefined, NOW);
    expect(s.kind).toBe('admissible');
    if (s.kind !== 'admissible') return;
    expect(s.row).toEqual({
      runId: deriveId('run', 'WARDEN_INGEST', '42'),
      eventId: deriveId('task_received', 'WARDEN_INGEST', '42'),
      agentId: 'agent-7',
      idempotencyKey: 'k1',
      traceId: s.received.trace_id,
      sourceStream: 'WARDEN_INGEST',
      sourceSeq: 42,
      createdAt: NOW,
    });
    expect(s.received).toEqual(receivedEnvelope(s.submission, bus(42), NOW));
  });

  it('given a submission the HTTP edge validated already, then its bytes are not read again', () => {
    const given = valid();
    const s = screenSubmission(http(given), enc('not json'), given, NOW);
    expect(s.kind).toBe('admissible');
    if (s.kind === 'admissible') expect(s.row.sourceStream).toBeNull();
  });

  it('given bytes that are not JSON, then refused malformed with its task_rejected', () => {
    const s = screenSubmission(bus(1), enc('{nope'), undefined, NOW);
    expect(s).toMatchObject({ kind: 'refused', reason: 'malformed', agentId: undefined });
    if (s.kind === 'refused') expect(s.publish).toEqual(rejectedEnvelope(s.errors, bus(1), undefined, NOW));
  });

  it('given an invalid submission, then refused invalid, naming the field and the readable agent', () => {
    const s = screenSubmission(bus(2), enc({ agent: { id: 'agent-7', role: 'dev' } }), undefined, NOW);
    expect(s).toMatchObject({ kind: 'refused', reason: 'invalid', agentId: 'agent-7' });
    if (s.kind === 'refused') expect(s.errors.map((e) => e.path)).toContain('action');
  });

  it('given more than 256 KiB, then refused too_large', () => {
    const big = enc(body({ context: { pad: 'x'.repeat(MAX_SUBMISSION_BYTES) } }));
    expect(screenSubmission(bus(3), big, undefined, NOW)).toMatchObject({ kind: 'refused', reason: 'too_large' });
  });

  it('given a role other than its bus subject, then refused role_mismatch on agent.role', () => {
    const s = screenSubmission(bus(4, { subjectRole: 'ops' }), enc(body()), undefined, NOW);
    expect(s).toMatchObject({ kind: 'refused', reason: 'role_mismatch', agentId: 'agent-7' });
    if (s.kind === 'refused') {
      expect(s.errors).toEqual([expect.objectContaining({ path: 'agent.role' })]);
      expect(s.publish.type).toBe('task_rejected');
      expect(s.publish.correlation_id).toBe('m-4');
    }
    expect(screenSubmission(bus(4, { subjectRole: 'dev' }), enc(body()), undefined, NOW).kind).toBe('admissible');
  });
});

describe('decideAdmission (after the insert)', () => {
  it('given a new submission whose row went in, then accepted: publish its task_received', () => {
    const a = admissible(bus(10), valid());
    const [d] = decideAdmission([a], { insertedEventIds: [a.row.eventId], stored: [] }, NOW);
    expect(d).toEqual({ kind: 'accepted', runId: a.row.runId, eventId: a.received.id, publish: a.received });
  });

  it('given the insert wrote the row under an upper-case id, then still accepted (Postgres uuids ignore case)', () => {
    const a = admissible(bus(11), valid());
    const [d] = decideAdmission([a], { insertedEventIds: [a.row.eventId.toUpperCase()], stored: [] }, NOW);
    expect(d!.kind).toBe('accepted');
  });

  it('given the same bus delivery again (crash before ack), then redelivered: the same event, first occurred_at', () => {
    const first = admissible(bus(12), valid(), T0);
    const again = admissible(bus(12), valid());
    const [d] = decideAdmission([again], { insertedEventIds: [], stored: [storedRow(first, T0)] }, NOW);
    expect(d).toEqual({
      kind: 'redelivered',
      runId: first.row.runId,
      eventId: first.received.id,
      publish: first.received,
    });
    if (d!.kind === 'redelivered') expect(d!.publish.occurred_at).toBe(T0.toISOString());
  });

  it.each([
    ['http', (s: TaskSubmission) => http(s, 'req-2')],
    ['mcp', (s: TaskSubmission) => mcpSource({ requestId: 'rpc-1', submission: { ...s, idempotency_key: 'k1' } })],
    ['webhook', () => webhookSource({ source: 'github', webhookId: 'wh-1' })],
  ])('given a replay of the same %s delivery, then a duplicate of its run, nothing published', (_, sourceOf) => {
    const s = valid({ idempotency_key: 'k1' });
    const first = admissible(sourceOf(s), s, T0);
    const again = admissible(sourceOf(s), s);
    const [d] = decideAdmission([again], { insertedEventIds: [], stored: [storedRow(first)] }, NOW);
    expect(d).toEqual({ kind: 'duplicate', runId: first.row.runId });
  });

  it('given the same agent + idempotency key from another delivery (even another body), then a duplicate of the first run', () => {
    const first = admissible(bus(13), valid({ idempotency_key: 'k1' }));
    const other = admissible(
      bus(14),
      valid({ idempotency_key: 'k1', action: { tool: 'fs.write_file', args: { path: 'b.md' } } }),
    );
    const [d] = decideAdmission([other], { insertedEventIds: [], stored: [storedRow(first)] }, NOW);
    expect(d).toEqual({ kind: 'duplicate', runId: first.row.runId });
  });

  it('given the same idempotency key from another agent, then not a duplicate: its own run', () => {
    const first = admissible(bus(15), valid({ idempotency_key: 'k1' }));
    const other = admissible(bus(16), valid({ idempotency_key: 'k1', agent: { id: 'agent-8', role: 'dev' } }));
    const [d] = decideAdmission([other], { insertedEventIds: [other.row.eventId], stored: [storedRow(first)] }, NOW);
    expect(d!.kind).toBe('accepted');
  });

  it('given a client run_id another submission holds, then refused run_id_in_use with its task_rejected', () => {
    const holder = admissible(bus(17), valid({ run_id: CLIENT_RUN }));
    const clash = admissible(bus(18), valid({ run_id: CLIENT_RUN, agent: { id: 'agent-9', role: 'dev' } }));
    const [d] = decideAdmission([clash], { insertedEventIds: [], stored: [storedRow(holder)] }, NOW);
    const errors = [{ path: 'run_id', message: 'run_id already in use' }];
    const publish = rejectedEnvelope(errors, bus(18), 'agent-9', NOW);
    expect(d).toEqual({
      kind: 'refused',
      reason: 'run_id_in_use',
      errors,
      agentId: 'agent-9',
      publish,
      eventId: publish.id,
      token: 'm-18',
    });
  });

  it('given a collision with a row that is gone now, then retry (a transient failure, nothing published)', () => {
    const a = admissible(bus(19), valid({ idempotency_key: 'k1' }));
    const [d] = decideAdmission([a], nothingStored, NOW);
    expect(d).toEqual({
      kind: 'retry',
      message: `submission for run ${a.row.runId} collided with a row that vanished`,
    });
  });

  it('given two deliveries with the same agent + key in one batch, then the first is the run, the second its duplicate', () => {
    const a = admissible(bus(20), valid({ idempotency_key: 'k2' }));
    const b = admissible(bus(21), valid({ idempotency_key: 'k2' }));
    const decisions = decideAdmission([a, b], { insertedEventIds: [a.row.eventId], stored: [storedRow(a, NOW)] }, NOW);
    expect(decisions.map((d) => d.kind)).toEqual(['accepted', 'duplicate']);
    expect(decisions[1]).toEqual({ kind: 'duplicate', runId: a.row.runId });
  });

  it('given the same bus delivery twice in one batch, then accepted once and redelivered once (the broker drops the copy)', () => {
    const a = admissible(bus(22), valid());
    const decisions = decideAdmission([a, a], { insertedEventIds: [a.row.eventId], stored: [storedRow(a, NOW)] }, NOW);
    expect(decisions.map((d) => d.kind)).toEqual(['accepted', 'redelivered']);
  });

  it('given a mixed batch, then each decided on its own, in order', () => {
    const fresh = admissible(bus(23), valid());
    const dupOf = admissible(bus(24), valid({ idempotency_key: 'k3' }));
    const dup = admissible(bus(25), valid({ idempotency_key: 'k3' }));
    const gone = admissible(bus(26), valid({ idempotency_key: 'k4' }));
    const decisions = decideAdmission(
      [fresh, dup, gone],
      { insertedEventIds: [fresh.row.eventId], stored: [storedRow(dupOf)] },
      NOW,
    );
    expect(decisions.map((d) => d.kind)).toEqual(['accepted', 'duplicate', 'retry']);
  });
});

describe('screenAtEdge (HTTP, webhook and MCP answers before anything is stored)', () => {
  const bound = () => [{ path: 'agent.id', message: 'this API key speaks for agent "agent-1" only' }];

  it('given more than 256 KiB, then 413 SUBMISSION.TOO_LARGE', () => {
    const big = enc(body({ context: { pad: 'x'.repeat(MAX_SUBMISSION_BYTES) } }));
    expect(screenAtEdge(parseSubmission(big))).toMatchObject({
      kind: 'refused',
      status: 413,
      code: 'SUBMISSION.TOO_LARGE',
      reason: 'too_large',
    });
  });

  it('given bytes that are not JSON or not a submission, then 400 VALIDATION.FAILED with the field errors', () => {
    expect(screenAtEdge(parseSubmission(enc('{')))).toMatchObject({
      status: 400,
      code: 'VALIDATION.FAILED',
      reason: 'malformed',
    });
    const invalid = screenAtEdge(parseSubmission(enc({ agent: { id: 'a', role: 'dev' } })));
    expect(invalid).toMatchObject({ status: 400, code: 'VALIDATION.FAILED', reason: 'invalid' });
    if (invalid.kind === 'refused') expect(invalid.errors.length).toBeGreaterThan(0);
  });

  it('given an invalid body from a bound key, then 400 first: the binding is not consulted', () => {
    const outside = jest.fn(bound);
    expect(screenAtEdge(parseSubmission(enc('{')), outside)).toMatchObject({ status: 400 });
    expect(outside).not.toHaveBeenCalled();
  });

  it('given a valid submission outside the key binding, then 403 KEY.AGENT_MISMATCH naming the fields', () => {
    expect(screenAtEdge(parseSubmission(enc(body())), bound)).toEqual({
      kind: 'refused',
      status: 403,
      code: 'KEY.AGENT_MISMATCH',
      reason: 'agent_mismatch',
      errors: bound(),
    });
  });

  it('given a valid submission inside the binding (or no binding check), then it passes on', () => {
    expect(screenAtEdge(parseSubmission(enc(body())), () => [])).toEqual({ kind: 'pass', submission: valid() });
    expect(screenAtEdge(parseSubmission(enc(body())))).toEqual({ kind: 'pass', submission: valid() });
  });
});
