import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { DomainError, ValidationError, newId, newTraceId, systemClock, type Clock } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { CONFIG, DATA_SOURCE, IdentityDirectory, LOGGER, PUBLISHER } from '@warden/runtime';
import { newSecret, secretHash, type ApiKeyView, type Principal } from '@warden/identity';
import type { IngestConfig } from '../config';
import { CLOCK } from '../submission/submission.service';
import { KeyRepository, type KeyRow } from './projections/key.repository';

/** A key as `GET /v1/keys` lists it (never the key or its hash). */
export interface KeyListing {
  id: string;
  name: string;
  owner: string;
  status: 'active' | 'expired' | 'revoked' | 'rotating';
  created_at: string;
  created_by: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  replaced_by: string | null;
  /** The one agent the key speaks for; null when unbound or bound by roles. */
  agent: { id: string; role: string } | null;
  /** The roles a harness key may submit under; null otherwise. */
  roles: string[] | null;
  /** The glob a harness key's agent ids must match; null otherwise. */
  agent_pattern: string | null;
}

/** What a key may speak for (`POST /v1/keys`): one agent, or roles with an optional agent-id glob; none = unbound. */
export interface KeyBinding {
  agent?: { id: string; role: string };
  roles?: string[];
  agent_pattern?: string;
}

export interface CreatedKey {
  id: string;
  /** Shown once: only its hash is kept. */
  key: string;
  name: string;
  owner: string;
  created_at: string;
  expires_at: string | null;
  agent?: { id: string; role: string };
  roles?: string[];
  agent_pattern?: string;
}

/** The status of a key at `now`: revoked/expired once their time has come, rotating while a revoke is scheduled. */
export function keyStatus(k: { revokedAt: Date | null; expiresAt: Date | null }, now: Date): KeyListing['status'] {
  if (k.revokedAt && k.revokedAt <= now) return 'revoked';
  if (k.expiresAt && k.expiresAt <= now) return 'expired';
  if (k.revokedAt) return 'rotating';
  return 'active';
}

/** How often one replica writes a key's `last_used_at` at most. */
export const LAST_USED_INTERVAL_MS = 60_000;

/**
 * API key lifecycle. Keys live in `ingest.api_keys` (hash, bookkeeping) AND as directory events
 * (`api_key_created` / `api_key_revoked`, hash only) that every service's {@link IdentityDirectory}
 * replays, so a revoke reaches every replica through the stream, not through this table. Each change
 * commits its row only after JetStream acked its event: no row without an event.
 */
@Injectable()
export class KeysService {
  private readonly repo = new KeyRepository();
  private readonly log: Logger;
  private readonly lastTouched = new Map<string, number>();

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(IdentityDirectory) private readonly directory: IdentityDirectory,
    @Inject(CONFIG) private readonly config: IngestConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock = systemClock,
  ) {
    this.log = logger.child('keys');
  }

  async create(
    input: { name: string; owner: string; expires_at?: string } & KeyBinding,
    by: Principal,
  ): Promise<CreatedKey> {
    const now = this.clock.now();
    const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
    if (expiresAt && expiresAt <= now)
      throw new ValidationError([{ path: 'expires_at', message: 'must be in the future' }]);
    const fresh = this.newKey(input.name, input.owner, expiresAt, by, now, bindingOf(input));
    await this.ds.transaction(async (em) => {
      await this.repo.insert(em, fresh.row);
      await this.publisher.publishEvent(fresh.event);
    });
    await this.seen(fresh.row.keyId, (k) => k !== undefined);
    this.log.info('api key created', {
      key_id: fresh.row.keyId,
      name: input.name,
      owner: input.owner,
      by: by.id,
      bound: Object.keys(fresh.binding).length > 0,
    });
    return fresh.created;
  }

  /** Revokes a key now (or at `effectiveAt`, for rotation); every replica refuses it from then on. */
  async revoke(keyId: string, by: Principal, reason?: string): Promise<{ id: string; revoked_at: string }> {
    const now = this.clock.now();
    const view = this.directory.apiKeys().find((k) => k.key_id === keyId);
    if (!view) throw new DomainError('KEY.NOT_FOUND', 'no such API key');
    if (view.revoked_at && Date.parse(view.revoked_at) <= now.getTime())
      throw new DomainError('KEY.ALREADY_REVOKED', `key was revoked at ${view.revoked_at}`);
    await this.ds.transaction(async (em) => {
      await this.repo.lock(em, keyId);
      await this.repo.revoke(em, keyId, now, by.id, null);
      await this.publisher.publishEvent(this.revokedEvent(keyId, by, now, undefined, reason));
    });
    await this.seen(keyId, (k) => k?.revoked_at !== undefined && Date.parse(k.revoked_at) <= now.getTime());
    this.log.info('api key revoked', { key_id: keyId, by: by.id });
    return { id: keyId, revoked_at: now.toISOString() };
  }

  /**
   * Rotation without downtime: a new key with the old one's name, owner, expiry and binding; the old key stays
   * valid for `graceSeconds` (default `API_KEY_ROTATION_GRACE_SECONDS`), then every replica refuses it.
   */
  async rotate(
    keyId: string,
    by: Principal,
    graceSeconds = this.config.API_KEY_ROTATION_GRACE_SECONDS,
  ): Promise<CreatedKey & { replaces: string; old_key_valid_until: string }> {
    const now = this.clock.now();
    const old = this.directory.apiKeys().find((k) => k.key_id === keyId);
    if (!old) throw new DomainError('KEY.NOT_FOUND', 'no such API key');
    if (old.revoked_at && Date.parse(old.revoked_at) <= now.getTime())
      throw new DomainError('KEY.ALREADY_REVOKED', `key was revoked at ${old.revoked_at}`);
    const until = new Date(now.getTime() + graceSeconds * 1000);
    // a revoke already scheduled earlier stands (a scheduled revoke is only ever brought forward)
    const effective = old.revoked_at && Date.parse(old.revoked_at) < until.getTime() ? new Date(old.revoked_at) : until;
    const fresh = this.newKey(
      old.name,
      old.owner,
      old.expires_at ? new Date(old.expires_at) : null,
      by,
      now,
      bindingOf(old),
    );
    await this.ds.transaction(async (em) => {
      await this.repo.lock(em, keyId);
      await this.repo.insert(em, fresh.row);
      await this.repo.revoke(em, keyId, effective, by.id, fresh.row.keyId);
      await this.publisher.publishEvents([
        fresh.event,
        this.revokedEvent(keyId, by, now, effective, `rotated to ${fresh.row.keyId}`),
      ]);
    });
    await this.seen(fresh.row.keyId, (k) => k !== undefined);
    this.log.info('api key rotated', { key_id: keyId, new_key_id: fresh.row.keyId, until: effective.toISOString() });
    return { ...fresh.created, replaces: keyId, old_key_valid_until: effective.toISOString() };
  }

  /** Every key the directory knows, with this database's `last_used_at`. */
  async list(): Promise<KeyListing[]> {
    const now = this.clock.now();
    const rows = new Map((await this.repo.all(this.ds.manager)).map((r) => [r.keyId, r]));
    return this.directory
      .apiKeys()
      .map((v) => listing(v, rows.get(v.key_id), now))
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Notes that a key was used; written at most once a minute per key per replica, never awaited by callers. */
  touch(keyId: string): void {
    const now = this.clock.now();
    const last = this.lastTouched.get(keyId);
    if (last !== undefined && now.getTime() - last < LAST_USED_INTERVAL_MS) return;
    this.lastTouched.set(keyId, now.getTime());
    this.repo
      .touch(this.ds.manager, keyId, now)
      .catch((err: unknown) => this.log.warn('recording last_used_at failed', { key_id: keyId, error: err as Error }));
  }

  private newKey(name: string, owner: string, expiresAt: Date | null, by: Principal, now: Date, binding: KeyBinding) {
    const key = newSecret('wk');
    const keyId = newId();
    const keyHash = secretHash(key);
    const row = { keyId, name, owner, keyHash, createdAt: now, createdBy: by.id, expiresAt };
    const event = makeEnvelope({
      type: 'api_key_created',
      runId: null,
      correlationId: keyId,
      producer: 'ingest',
      traceId: newTraceId(),
      occurredAt: now,
      data: {
        key_id: keyId,
        name,
        owner,
        key_hash: keyHash,
        created_by: by.id,
        ...(expiresAt ? { expires_at: expiresAt.toISOString() } : {}),
        ...binding,
      },
    });
    const created: CreatedKey = {
      id: keyId,
      key,
      name,
      owner,
      created_at: now.toISOString(),
      expires_at: expiresAt?.toISOString() ?? null,
      ...binding,
    };
    return { row, event, created, binding };
  }

  private revokedEvent(keyId: string, by: Principal, now: Date, effectiveAt?: Date, reason?: string) {
    return makeEnvelope({
      type: 'api_key_revoked',
      runId: null,
      correlationId: keyId,
      producer: 'ingest',
      traceId: newTraceId(),
      occurredAt: now,
      data: {
        key_id: keyId,
        by: by.id,
        ...(reason ? { reason } : {}),
        ...(effectiveAt ? { effective_at: effectiveAt.toISOString() } : {}),
      },
    });
  }

  /**
   * Waits (up to 5 s) until this replica's directory reflects a change we published, so the caller can
   * use the key, or see it refused, on this replica as soon as we answer.
   */
  private async seen(keyId: string, done: (k: ApiKeyView | undefined) => boolean): Promise<void> {
    const check = () => done(this.directory.apiKeys().find((k) => k.key_id === keyId));
    if (check()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, 5000);
      const off = this.directory.onChange(() => {
        if (check()) finish();
      });
      function finish() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }
}

function listing(v: ApiKeyView, row: KeyRow | undefined, now: Date): KeyListing {
  const revokedAt = v.revoked_at ? new Date(v.revoked_at) : null;
  const expiresAt = v.expires_at ? new Date(v.expires_at) : null;
  return {
    id: v.key_id,
    name: v.name,
    owner: v.owner,
    status: keyStatus({ revokedAt, expiresAt }, now),
    created_at: v.created_at,
    created_by: v.created_by,
    last_used_at: row?.lastUsedAt?.toISOString() ?? null,
    expires_at: v.expires_at ?? null,
    revoked_at: v.revoked_at ?? null,
    replaced_by: row?.replacedBy ?? null,
    agent: v.agent ?? null,
    roles: v.roles ?? null,
    agent_pattern: v.agent_pattern ?? null,
  };
}

/** Only the binding fields, copied (what `api_key_created` carries and a rotation keeps). */
function bindingOf(k: KeyBinding): KeyBinding {
  return {
    ...(k.agent ? { agent: { id: k.agent.id, role: k.agent.role } } : {}),
    ...(k.roles ? { roles: [...k.roles] } : {}),
    ...(k.agent_pattern !== undefined ? { agent_pattern: k.agent_pattern } : {}),
  };
}
