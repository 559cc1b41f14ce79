import { Inject, Injectable } from '@nestjs/common';
import type { ExecutionReportRequest } from '@warden/contracts';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { deriveId, signingKeysOf, type Keyring, type SigningKeys } from '@warden/kernel';
import type { Redis } from '@warden/persistence';
import { CONFIG, KEYRING, PUBLISHER, REDIS } from '@warden/runtime';
import { bindingAdmits, type Principal } from '@warden/identity';
import type { IngestConfig } from '../config';
import { checkReport, type ReportRefusal } from './domain/report';

/** How long a used grant id is remembered after its deadline (a late replay is refused as expired anyway). */
const USED_TTL_MS = 24 * 3600_000;

/**
 * Takes a client executor's report on its grant: checks it ({@link checkReport}), marks the grant used
 * (Redis `SET NX`, so a second report — also on another replica — is `409 GRANT.ALREADY_USED`), and
 * records the signed `execution_reported` event for the orchestrator to settle the run.
 */
@Injectable()
export class ExecutionReportService {
  private readonly orchestrator: SigningKeys;
  private readonly prefix: string;

  constructor(
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(KEYRING) keyring: Keyring,
    @Inject(CONFIG) config: IngestConfig,
  ) {
    this.orchestrator = signingKeysOf(keyring, 'orchestrator');
    this.prefix = `${config.WARDEN_SUBJECT_PREFIX}:ingest:grant-used:`;
  }

  async report(
    body: ExecutionReportRequest,
    runId: string,
    principal: Principal,
    traceId: string,
    now = new Date(),
  ): Promise<ReportRefusal | { grantId: string }> {
    const refusal = checkReport(body, runId, bindingAdmits(principal, body.grant.agent), this.orchestrator, now);
    if (refusal) return refusal;
    const g = body.grant;
    const key = this.prefix + g.grant_id;
    const ttl = Math.max(1000, Date.parse(g.expires_at) - now.getTime()) + USED_TTL_MS;
    const first = await this.redis.set(key, principal.id, 'PX', ttl, 'NX');
    if (first !== 'OK') return { code: 'GRANT.ALREADY_USED', detail: 'this grant has already been reported' };
    try {
      await this.publisher.publishEvent(
        makeEnvelope({
          // one report per grant, also for the broker's de-duplication
          id: deriveId(g.grant_id, 'reported'),
          type: 'execution_reported',
          runId,
          producer: 'ingest',
          traceId,
          correlationId: runId,
          // stamped with the time the deadline was checked against: the orchestrator checks it again
          occurredAt: now,
          data: {
            grant_id: g.grant_id,
            action_hash: body.action_hash,
            outcome: body.outcome,
            reported_by: { kind: 'api_key', id: principal.id, ...(principal.owner ? { owner: principal.owner } : {}) },
          },
        }),
      );
    } catch (err) {
      // not recorded: the grant stays usable for the client's retry
      await this.redis.del(key).catch(() => undefined);
      throw err;
    }
    return { grantId: g.grant_id };
  }
}
