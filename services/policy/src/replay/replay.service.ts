import { Inject, Injectable } from '@nestjs/common';
import { DomainError, isUuid } from '@warden/kernel';
import { BundleRegistry } from '../bundle/bundle.registry';
import { DecisionInputRepository } from '../decision/projections/decision-input.repository';
import { parseBundle, replay, whatIf, type ReplayResult, type WhatIfReport } from '@warden/policy-language';

/** Replay (recorded input under its recorded digest) and what-if (recorded inputs under a candidate). */
@Injectable()
export class ReplayService {
  constructor(
    @Inject(BundleRegistry) private readonly registry: BundleRegistry,
    @Inject(DecisionInputRepository) private readonly inputs: DecisionInputRepository,
  ) {}

  /** @throws DomainError DECISION.NOT_FOUND when the run has no recorded decision with an input */
  async replayRun(runId: string): Promise<ReplayResult & { policy_digest: string }> {
    if (!isUuid(runId)) throw new DomainError('DECISION.NOT_FOUND', `no decision for run ${runId}`);
    const row = await this.inputs.byRun(runId);
    if (!row) throw new DomainError('DECISION.NOT_FOUND', `no decision for run ${runId}`);
    if (!row.input) throw new DomainError('DECISION.NOT_FOUND', `run ${runId} was decided before inputs were recorded`);
    return { ...replay(await this.registry.load(row.policy_digest), row), policy_digest: row.policy_digest };
  }

  /** Replays every recorded decision since `since`; returns counts and the ones that differ. */
  async replayMany(
    since: Date,
    limit: number,
  ): Promise<{ replayed: number; identical: number; different: (ReplayResult & { policy_digest: string })[] }> {
    const rows = await this.inputs.since(since, limit);
    const different: (ReplayResult & { policy_digest: string })[] = [];
    let identical = 0;
    for (const row of rows) {
      const r = replay(await this.registry.load(row.policy_digest), row);
      if (r.identical) identical++;
      else different.push({ ...r, policy_digest: row.policy_digest });
    }
    return { replayed: rows.length, identical, different };
  }

  /** Evaluates a candidate bundle (validated first: 400 with its errors) over recorded decisions. */
  async whatIf(
    text: string,
    since: Date,
    limit: number,
  ): Promise<WhatIfReport & { candidate: { version: string; digest: string }; since: string }> {
    const candidate = parseBundle(text);
    const rows = await this.inputs.since(since, limit);
    return {
      candidate: { version: candidate.bundle.version, digest: candidate.digest },
      since: since.toISOString(),
      ...whatIf(candidate, rows),
    };
  }
}
