/**
 * Verifies an audit chain export (`GET /v1/audit/export`, JSON lines) with the audit public keys:
 * every record's hash recomputed from its fields (RFC 8785 canonical JSON, SHA-256), every record's
 * event against its `event_hash`, every link (`prev_hash`) to the record before, every checkpoint's
 * Ed25519 signature and hash, and the export's signed `head` against its last record. A deleted,
 * reordered, edited or duplicated record, a truncated export and a forged checkpoint are each named by
 * sequence and run id. The forms are those of services/orchestrator/src/audit/domain/chain.ts.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, sha256Canonical } from '@warden/kernel';

export const GENESIS_HASH = 'sha256:' + '0'.repeat(64);
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A chain record line of the export. */
export interface ChainRecord {
  kind: 'record';
  seq: number;
  stream_seq?: number;
  event_id: string;
  type: string;
  run_id?: string | null;
  occurred_at: string;
  producer: string;
  event_hash: string;
  prev_hash: string;
  hash: string;
  event?: { id?: string; type?: string; run_id?: string | null } & Record<string, unknown>;
}
/** A signed checkpoint or head line. */
export interface Checkpoint {
  kind: 'checkpoint' | 'head';
  chain?: string;
  up_to_seq: number;
  head_hash: string;
  created_at: string;
  key_id: string;
  sig?: string;
}
export interface AuditKey {
  key_id?: string;
  public_key: string;
}
export interface Problem {
  kind: string;
  seq: number | null;
  run_id: string | null;
  message: string;
}
export interface VerifyReport {
  ok: boolean;
  records: number;
  checkpoints: number;
  first_seq: number | null;
  last_seq: number | null;
  head: { up_to_seq: number; head_hash: string; key_id: string; created_at: string } | null;
  key_ids: string[];
  problems: Problem[];
}

export function recordHash(r: ChainRecord): string {
  return sha256Canonical({
    kind: 'record',
    seq: r.seq,
    stream_seq: r.stream_seq,
    event_id: r.event_id,
    type: r.type,
    run_id: r.run_id,
    occurred_at: r.occurred_at,
    producer: r.producer,
    event_hash: r.event_hash,
    prev_hash: r.prev_hash,
  });
}

export function checkpointPayload(c: Checkpoint): string {
  return canonicalJson({
    kind: c.kind,
    chain: c.chain,
    up_to_seq: c.up_to_seq,
    head_hash: c.head_hash,
    created_at: c.created_at,
    key_id: c.key_id,
  });
}

/** Public keys by key id, from `[{key_id, public_key}]` (raw 32 bytes, base64) as `GET /v1/audit/keys` lists them. */
function keyMap(keys: readonly AuditKey[]): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  for (const k of keys) {
    const raw = Buffer.from(k.public_key, 'base64');
    if (raw.length !== 32) throw new Error(`audit key ${k.key_id ?? '?'} is not a 32-byte Ed25519 public key`);
    const id = k.key_id ?? createHash('sha256').update(raw).digest('hex').slice(0, 16);
    out.set(id, createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' }));
  }
  return out;
}

function signatureValid(keys: Map<string, KeyObject>, c: Checkpoint): boolean {
  const key = keys.get(c.key_id);
  if (!key || typeof c.sig !== 'string' || !c.sig.startsWith('ed25519:')) return false;
  const raw = Buffer.from(c.sig.slice('ed25519:'.length), 'base64');
  if (raw.length !== 64) return false;
  try {
    return verify(null, Buffer.from(checkpointPayload(c)), key, raw);
  } catch {
    return false;
  }
}

interface Seen {
  seq: number;
  run_id: string | null;
  type: string;
  hash: string;
  prev_hash: string;
  computed: string;
  eventOk: boolean;
}

const who = (r: Pick<Seen, 'seq' | 'run_id' | 'type'> | undefined) =>
  r ? `seq ${r.seq}${r.run_id ? ` (run ${r.run_id})` : ` (${r.type})`}` : '?';

function eventHashOk(item: ChainRecord): boolean {
  if (item.event === undefined) return true;
  let hash: string;
  try {
    hash = sha256Canonical(item.event);
  } catch {
    return false;
  }
  const e = item.event;
  return (
    hash === item.event_hash &&
    !!e &&
    e.id === item.event_id &&
    e.type === item.type &&
    (e.run_id ?? null) === (item.run_id ?? null)
  );
}

/**
 * A verifier fed one parsed export line at a time (memory: a few fields per record, not the events).
 * @example const v = createVerifier(keys); for (const line of lines) v.add(JSON.parse(line)); const report = v.finish()
 */
export function createVerifier(keyList: readonly AuditKey[]): { add(item: unknown): void; finish(): VerifyReport } {
  const keys = keyMap(keyList);
  const records: Seen[] = []; // in export order
  const checkpoints: (Checkpoint & { line: number })[] = [];
  const heads: (Checkpoint & { line: number })[] = [];
  const problems: Problem[] = [];
  let position = 0;
  const problem = (kind: string, seq: number | null, runId: string | null | undefined, message: string) =>
    problems.push({ kind, seq, run_id: runId ?? null, message });

  function add(value: unknown): void {
    position++;
    if (!value || typeof value !== 'object') {
      problem('malformed', null, null, `line ${position} is not an object`);
      return;
    }
    const item = value as { kind?: string; unmapped?: { warden_audit?: unknown } };
    if (item.kind === 'record') {
      const r = item as ChainRecord;
      records.push({
        seq: r.seq,
        run_id: r.run_id ?? null,
        type: r.type,
        hash: r.hash,
        prev_hash: r.prev_hash,
        computed: recordHash(r),
        eventOk: eventHashOk(r),
      });
    } else if (item.kind === 'checkpoint') {
      checkpoints.push({ ...(item as Checkpoint), line: position });
    } else if (item.kind === 'head') {
      heads.push({ ...(item as Checkpoint), line: position });
    } else if (item.unmapped?.warden_audit) {
      add(item.unmapped.warden_audit); // an OCSF line: its chain record
      position--;
    } else {
      problem('malformed', null, null, `line ${position}: neither a record, a checkpoint nor a head`);
    }
  }

  function finish(): VerifyReport {
    const bySeq = new Map<number, Seen>();
    // edits: a record whose fields no longer give its hash, or whose event no longer gives event_hash
    for (const r of records) {
      if (bySeq.has(r.seq)) problem('duplicated', r.seq, r.run_id, `${who(r)} appears more than once`);
      else bySeq.set(r.seq, r);
      if (r.computed !== r.hash)
        problem('edited', r.seq, r.run_id, `${who(r)} was altered: its fields do not give its hash`);
      if (!r.eventOk) problem('edited', r.seq, r.run_id, `${who(r)} was altered: its event does not match event_hash`);
    }
    // order: the export lists records by sequence
    for (let i = 1; i < records.length; i++) {
      const a = records[i - 1];
      const b = records[i];
      if (a && b && b.seq < a.seq)
        problem('reordered', b.seq, b.run_id, `${who(b)} appears after ${who(a)}: records are out of order`);
    }
    const seqs = [...bySeq.keys()].sort((x, y) => x - y);
    const head = heads[heads.length - 1];
    const first = seqs[0];
    const last = seqs[seqs.length - 1];
    // deletions: a gap in the sequence
    for (let i = 1; i < seqs.length; i++) {
      const lo = seqs[i - 1] as number;
      const hi = seqs[i] as number;
      for (let s = lo + 1; s < hi; s++) {
        problem(
          'deleted',
          s,
          null,
          `record seq ${s} is missing (between ${who(bySeq.get(lo))} and ${who(bySeq.get(hi))})`,
        );
      }
    }
    // links: each record names the hash of the one before it
    for (const s of seqs) {
      const r = bySeq.get(s);
      if (!r) continue;
      if (s === 1 && r.prev_hash !== GENESIS_HASH)
        problem('edited', s, r.run_id, `${who(r)} is the first record but does not start from the genesis hash`);
      const prev = bySeq.get(s - 1);
      if (prev && r.prev_hash !== prev.hash)
        problem(
          'edited',
          s - 1,
          prev.run_id,
          `${who(r)} does not link to ${who(prev)}: ${who(prev)} was altered or replaced`,
        );
    }
    // checkpoints: signed by an audit key, and matching the record they name
    const checkCheckpoint = (c: Checkpoint & { line: number }, what: string) => {
      if (!signatureValid(keys, c)) {
        problem(
          'forged_checkpoint',
          c.up_to_seq,
          null,
          `${what} at seq ${c.up_to_seq} (line ${c.line}) is not signed by a known audit key${keys.has(c.key_id) ? '' : ` (key ${c.key_id} unknown)`}`,
        );
        return false;
      }
      const r = bySeq.get(c.up_to_seq);
      if (r && r.computed !== c.head_hash)
        problem('edited', r.seq, r.run_id, `${who(r)} does not match the ${what} signed for it`);
      return true;
    };
    for (const c of checkpoints) checkCheckpoint(c, 'checkpoint');
    if (!head) {
      problem('unsigned', last ?? null, null, 'the export has no signed head: its completeness cannot be proven');
    } else if (checkCheckpoint(head, 'signed head')) {
      if ((last ?? 0) < head.up_to_seq) {
        const end = last ? who(bySeq.get(last)) : 'no record';
        problem(
          'truncated',
          (last ?? 0) + 1,
          null,
          `the export was truncated: it ends at ${end}, its signed head is at seq ${head.up_to_seq}`,
        );
      }
      if (last !== undefined && last > head.up_to_seq) {
        const r = bySeq.get(last);
        problem('appended', last, r?.run_id, `${who(r)} lies beyond the signed head (seq ${head.up_to_seq})`);
      }
    }
    const keyIds = [...new Set([...checkpoints, ...heads].map((c) => c.key_id))];
    return {
      ok: problems.length === 0,
      records: records.length,
      checkpoints: checkpoints.length,
      first_seq: first ?? null,
      last_seq: last ?? null,
      head: head
        ? { up_to_seq: head.up_to_seq, head_hash: head.head_hash, key_id: head.key_id, created_at: head.created_at }
        : null,
      key_ids: keyIds,
      problems: problems.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0)),
    };
  }

  return { add, finish };
}

/** Verifies a whole export given as text (JSON lines). */
export function verifyExportText(text: string, keys: readonly AuditKey[]): VerifyReport {
  const v = createVerifier(keys);
  for (const line of text.split('\n')) if (line.trim()) v.add(JSON.parse(line));
  return v.finish();
}
