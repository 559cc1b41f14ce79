import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import type { Subjects } from '@warden/contracts';
import { Auth, DATA_SOURCE, SUBJECTS, parseBody } from '@warden/runtime';
import { AuditRepository } from '../projections/audit.repository';
import type { AuditKeysResponse } from './audit.schemas';
import { GENESIS_HASH, signCheckpoint, type AuditCheckpoint, type AuditKeys } from '../domain/chain';
import { toOcsf } from '../domain/ocsf';

export const AUDIT_KEYS = Symbol('AUDIT_KEYS');

export const ExportQuery = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional(),
  from_seq: z.coerce.number().int().min(1).optional(),
  format: z.enum(['jsonl', 'ocsf']).default('jsonl'),
});

const PAGE = 1000;

/**
 * The audit chain for outsiders: the public keys that sign its checkpoints (no token needed), and an
 * export (viewer) that streams one JSON object per line: a `head` signed now (the last record's seq and
 * hash: truncation shows), then every record and checkpoint in order. `warden audit verify` checks it.
 */
@Controller('v1/audit')
export class AuditController {
  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(AUDIT_KEYS) private readonly keys: AuditKeys,
  ) {}

  @Get('keys')
  publicKeys(): z.output<typeof AuditKeysResponse> {
    return { algorithm: 'ed25519', chain: this.subjects.streams.events, keys: this.keys.published };
  }

  @Get('export')
  @Auth('viewer')
  async export(@Query() query: unknown, @Res() res: Response): Promise<void> {
    const q = parseBody(ExportQuery, query);
    const repo = new AuditRepository(this.ds.manager);
    const chain = this.subjects.streams.events;
    const head = await repo.head();
    const upTo = head?.seq ?? 0;
    const sinceSeq = q.since ? await repo.firstSeqSince(q.since) : undefined;
    const from = Math.max(q.from_seq ?? 1, q.since ? (sinceSeq ?? upTo + 1) : 1);
    const signedHead = signCheckpoint(this.keys, {
      kind: 'head',
      chain,
      up_to_seq: upTo,
      head_hash: head?.hash ?? GENESIS_HASH,
      created_at: new Date().toISOString(),
    });
    res.status(200);
    res.setHeader('content-type', q.format === 'ocsf' ? 'application/x-ndjson; profile=ocsf' : 'application/x-ndjson');
    res.setHeader('x-warden-audit-records', String(Math.max(0, upTo - from + 1)));
    res.setHeader('x-warden-audit-head', `${upTo} ${signedHead.head_hash}`);
    const write = (line: unknown) =>
      new Promise<void>((ok) => (res.write(JSON.stringify(line) + '\n') ? ok() : res.once('drain', () => ok())));
    if (q.format === 'jsonl') await write(signedHead);
    const checkpoints: AuditCheckpoint[] = q.format === 'jsonl' ? await repo.checkpoints(from, upTo, chain) : [];
    let next = from;
    while (next <= upTo) {
      const page = await repo.records(next, upTo, PAGE);
      if (!page.length) break;
      for (const r of page) {
        await write(q.format === 'ocsf' ? toOcsf(r, chain) : r);
        while (checkpoints.length && checkpoints[0]!.up_to_seq <= r.seq) await write(checkpoints.shift());
      }
      next = page[page.length - 1]!.seq + 1;
    }
    res.end();
  }
}
