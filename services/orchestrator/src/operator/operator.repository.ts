import type { DataSource } from 'typeorm';
import type { Principal, Role } from '@warden/runtime';

/** Operators known to this service (a minimal table; the approvals service will own the full lifecycle). */
export class OperatorRepository {
  constructor(private readonly ds: DataSource) {}

  async findByTokenHash(tokenHash: string): Promise<Principal | undefined> {
    const rows: { id: string; name: string; roles: Role[]; max_tier: number }[] = await this.ds.query(
      'SELECT id, name, roles, max_tier FROM orchestrator.operators WHERE token_hash = $1 AND revoked_at IS NULL',
      [tokenHash],
    );
    const r = rows[0];
    return r ? { kind: 'operator', id: r.id, name: r.name, roles: r.roles, maxTier: r.max_tier } : undefined;
  }

  async create(op: { id: string; name: string; tokenHash: string; roles: Role[]; maxTier: number }): Promise<void> {
    await this.ds.query(
      'INSERT INTO orchestrator.operators (id, name, token_hash, roles, max_tier) VALUES ($1, $2, $3, $4, $5)',
      [op.id, op.name, op.tokenHash, op.roles, op.maxTier],
    );
  }
}
