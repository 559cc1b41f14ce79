import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Redis } from '@warden/persistence';
import { DomainError, isUuid, systemClock, type Clock } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { CONFIG, DATA_SOURCE, LOGGER, REDIS } from '@warden/runtime';
import { newSecret, type Principal } from '@warden/identity';
import type { IngestConfig } from '../config';
import { webhookSource } from '../submission/domain/submission';
import { HttpIntakeService, type HttpIntakeResult } from '../submission/http/http-intake.service';
import { ingestMetrics } from '../submission/submission.metrics';
import { CLOCK } from '../submission/submission.service';
import { SecretBox } from './domain/secret-box';
import { TOLERANCE_SECONDS, verifier, verifyDelivery, type Verifier, type WebhookHeaders } from './domain/signature';
import { SourceRepository } from './projections/source.repository';
import { loadSecretsKey } from './secrets-key';

/** Source names: a path segment, and never `sources` (the admin routes live there). */
export const SOURCE_NAME = /^(?!sources$)[a-z0-9][a-z0-9_-]{0,62}$/;

/** How long a verified source's secrets are cached; a signature no cached secret matches reloads them once. */
const CACHE_MS = 5_000;
/** Accepted webhook ids are remembered in Redis well beyond the window in which a replay could verify. */
export const REPLAY_TTL_MS = 3 * TOLERANCE_SECONDS * 1000;

interface CachedSource {
  verifiers: Verifier[];
  loadedAt: number;
}

/** What a webhook delivery came to. */
export type DeliveryResult =
  | HttpIntakeResult
  | { kind: 'unauthenticated'; reason: string }
  /** A replay of an accepted delivery: the first run's id. */
  | { kind: 'replayed'; runId: string };

export interface SourceListing {
  name: string;
  created_at: string;
  created_by: string;
  secrets: { created_at: string; expires_at: string | null }[];
}

/**
 * Webhook sources and deliveries (Standard Webhooks). Secrets are sealed with AES-256-GCM
 * (`WARDEN_SECRETS_KEY`) in `ingest.webhook_secrets`. An accepted `webhook-id` is remembered in Redis
 * (`SET NX`, TTL 15 min > the ±5 min window) and in `ingest.webhook_deliveries` (unique per source):
 * Redis answers a replay without touching Postgres; the table and the delivery-derived run and event
 * ids make a replay that Redis missed (flushed, concurrent) come to the same single run.
 */
@Injectable()
export class WebhooksService {
  private readonly repo = new SourceRepository();
  private readonly box: SecretBox;
  private readonly cache = new Map<string, CachedSource>();
  private readonly log: Logger;
  private readonly redisPrefix: string;

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: IngestConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(HttpIntakeService) private readonly intake: HttpIntakeService,
    @Inject(CLOCK) private readonly clock: Clock = systemClock,
  ) {
    this.box = new SecretBox(loadSecretsKey(config.WARDEN_SECRETS_KEY, config.WARDEN_SECRETS_KEY_FILE));
    this.log = logger.child('webhooks');
    this.redisPrefix = `${config.WARDEN_SUBJECT_PREFIX}:ingest:webhook:`;
  }

  // ── sources (admin) ─────────────────────────────────────────────────────────

  async createSource(name: string, by: Principal): Promise<{ name: string; secret: string }> {
    const secret = newSecret('whsec');
    const created = await this.repo.create(this.ds.manager, name, this.box.seal(secret, name), by.id, this.clock.now());
    if (!created) throw new DomainError('WEBHOOK_SOURCE.ALREADY_EXISTS', `source ${name} exists`);
    this.cache.delete(name);
    this.log.info('webhook source created', { source: name, by: by.id });
    return { name, secret };
  }

  /** A new secret now; the previous ones stay valid for `graceSeconds` (default WEBHOOK_ROTATION_GRACE_SECONDS). */
  async rotateSource(
    name: string,
    by: Principal,
    graceSeconds = this.config.WEBHOOK_ROTATION_GRACE_SECONDS,
  ): Promise<{ name: string; secret: string; previous_valid_until: string }> {
    const now = this.clock.now();
    const until = new Date(now.getTime() + graceSeconds * 1000);
    const secret = newSecret('whsec');
    await this.ds.transaction(async (em) => {
      if (!(await this.repo.lock(em, name))) throw new DomainError('WEBHOOK_SOURCE.NOT_FOUND', 'no such source');
      await this.repo.rotate(em, name, this.box.seal(secret, name), now, until);
    });
    this.cache.delete(name);
    this.log.info('webhook source rotated', { source: name, by: by.id, previous_valid_until: until.toISOString() });
    return { name, secret, previous_valid_until: until.toISOString() };
  }

  async deleteSource(name: string, by: Principal): Promise<void> {
    if (!(await this.repo.delete(this.ds.manager, name)))
      throw new DomainError('WEBHOOK_SOURCE.NOT_FOUND', 'no such source');
    this.cache.delete(name);
    this.log.info('webhook source deleted', { source: name, by: by.id });
  }

  async listSources(): Promise<SourceListing[]> {
    return (await this.repo.list(this.ds.manager, this.clock.now())).map((s) => ({
      name: s.name,
      created_at: s.createdAt.toISOString(),
      created_by: s.createdBy,
      secrets: s.secrets.map((k) => ({
        created_at: k.createdAt.toISOString(),
        expires_at: k.expiresAt?.toISOString() ?? null,
      })),
    }));
  }

  // ── deliveries ──────────────────────────────────────────────────────────────

  /** Verifies and takes in one delivery. Never throws. */
  async deliver(source: string, headers: WebhookHeaders, body: Buffer, traceparent?: string): Promise<DeliveryResult> {
    const result = await this.handle(source, headers, body, traceparent).catch((err: unknown): DeliveryResult => {
      this.log.warn('webhook delivery failed', { source, error: err as Error });
      return { kind: 'unavailable', error: err as Error };
    });
    ingestMetrics.webhooks.inc({ outcome: outcomeLabel(result) });
    return result;
  }

  private async handle(
    source: string,
    headers: WebhookHeaders,
    body: Buffer,
    traceparent?: string,
  ): Promise<DeliveryResult> {
    if (!SOURCE_NAME.test(source)) return { kind: 'unauthenticated', reason: 'unknown_source' };
    const nowSeconds = this.clock.now().getTime() / 1000;
    let verifiers = await this.verifiers(source, false);
    if (verifiers === undefined) return { kind: 'unauthenticated', reason: 'unknown_source' };
    let v = verifyDelivery(headers, body, verifiers, nowSeconds);
    if (!v.ok && v.reason === 'bad_signature') {
      // a secret rotated on another replica since we cached: look once more
      verifiers = await this.verifiers(source, true);
      if (verifiers === undefined) return { kind: 'unauthenticated', reason: 'unknown_source' };
      v = verifyDelivery(headers, body, verifiers, nowSeconds);
    }
    if (!v.ok) return { kind: 'unauthenticated', reason: v.reason };

    const replayKey = `${this.redisPrefix}${source}:${v.id}`;
    const first = await this.redis.set(replayKey, 'pending', 'PX', REPLAY_TTL_MS, 'NX').catch(() => 'redis_down');
    if (first === null) {
      const seen = await this.redis.get(replayKey).catch(() => null);
      if (seen && isUuid(seen)) return { kind: 'replayed', runId: seen };
      // 'pending': the same delivery is being taken in right now; the ids it derives make both one run
    }
    const known = await this.repo.delivery(this.ds.manager, source, v.id);
    if (known) {
      await this.remember(replayKey, known);
      return { kind: 'replayed', runId: known };
    }
    const result = await this.intake.submit('webhook', body, () =>
      webhookSource({ source, webhookId: v.id, traceparent }),
    );
    if (result.kind !== 'accepted' && result.kind !== 'duplicate') {
      if (first === 'OK') await this.redis.del(replayKey).catch(() => undefined);
      return result;
    }
    const runId = await this.repo.recordDelivery(this.ds.manager, source, v.id, result.runId);
    await this.remember(replayKey, runId);
    return runId === result.runId ? result : { kind: 'replayed', runId };
  }

  private async remember(key: string, runId: string): Promise<void> {
    await this.redis.set(key, runId, 'PX', REPLAY_TTL_MS).catch(() => undefined);
  }

  /** The source's valid secrets, cached briefly; undefined for an unknown source. */
  private async verifiers(source: string, reload: boolean): Promise<Verifier[] | undefined> {
    const now = this.clock.now();
    const hit = this.cache.get(source);
    if (hit && !reload && now.getTime() - hit.loadedAt < CACHE_MS) return hit.verifiers;
    const row = await this.repo.find(this.ds.manager, source, now);
    if (!row) {
      this.cache.delete(source);
      return undefined;
    }
    const verifiers = row.secrets.map((s) => verifier(this.box.open(s.sealed, source)));
    this.cache.set(source, { verifiers, loadedAt: now.getTime() });
    return verifiers;
  }
}

function outcomeLabel(r: DeliveryResult): string {
  switch (r.kind) {
    case 'accepted':
      return 'accepted';
    case 'duplicate':
    case 'replayed':
      return 'replayed';
    case 'unauthenticated':
      return r.reason === 'stale' || r.reason === 'future'
        ? 'stale'
        : r.reason === 'unknown_source'
          ? 'unknown_source'
          : 'bad_signature';
    case 'refused':
      return 'invalid';
    case 'unavailable':
      return 'unavailable';
  }
}
