import type { EntityManager } from 'typeorm';
import type { ApplyContext, ProjectedEvent, ProjectionHandler } from '@warden/persistence';
import { AuditRepository } from './audit.repository';
import {
  AUDITED_TYPES,
  checkpointDue,
  nextRecord,
  signCheckpoint,
  type AuditKeys,
  type AuditRecord,
  type RawEvent,
} from '../domain/chain';

const AUDITED = new Set<string>(AUDITED_TYPES);

export interface AuditChainOptions {
  /** The events stream's name: what the chain is over (`chain` in every checkpoint). */
  chain: string;
  keys: AuditKeys;
  checkpointEvery: number;
  checkpointSeconds: number;
}

/**
 * Builds the audit hash chain in one ordered pass over the events stream: a record per audited event
 * (first sighting of its id; a redriven copy is not recorded twice), linked to the one before, and a
 * checkpoint signed by the audit key every N records or T seconds. The projection's locked checkpoint
 * row makes it single-writer across replicas, and stream order makes the chain deterministic: every
 * replica, and a rebuild, computes the same records.
 */
export class AuditProjection implements ProjectionHandler {
  constructor(private readonly opts: AuditChainOptions) {}

  async apply(events: ProjectedEvent[], em: EntityManager, ctx: ApplyContext): Promise<void> {
    const wanted = events.filter((e) => AUDITED.has(e.env.type));
    if (!wanted.length) return;
    const repo = new AuditRepository(em);
    // one round trip: the ids already recorded, the head and the last checkpoint (which only this
    // batch, at its end, can move)
    const { recorded: seen, head, lastCheckpoint } = await repo.batchContext(wanted.map((e) => e.env.id));
    let prev = head;
    const records: AuditRecord[] = [];
    for (const { msg, env } of wanted) {
      if (seen.has(env.id)) continue;
      seen.add(env.id);
      // the event as published (schema parsing may reshape it): what its signature and hash cover
      const raw = msg.json() as RawEvent;
      const r = { ...nextRecord(prev, msg.seq, raw), event: raw };
      records.push(r);
      prev = r;
    }
    await repo.insertRecords(records);
    if (!prev) return;
    const policy = { every: this.opts.checkpointEvery, seconds: this.opts.checkpointSeconds };
    if (checkpointDue(lastCheckpoint, prev.seq, ctx.now, policy)) {
      await repo.insertCheckpoint(
        signCheckpoint(this.opts.keys, {
          kind: 'checkpoint',
          chain: this.opts.chain,
          up_to_seq: prev.seq,
          head_hash: prev.hash,
          created_at: ctx.now.toISOString(),
        }),
      );
    }
  }

  async reset(em: EntityManager): Promise<void> {
    await new AuditRepository(em).reset();
  }
}
