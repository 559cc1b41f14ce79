import type { MigrationInterface, QueryRunner } from 'typeorm';
import { fencedLeaseTableSql } from '@warden/persistence';

/** Leases of the singleton duties (the sweeper), with their fencing tokens. */
export class DutyLeases1700000000005 implements MigrationInterface {
  name = 'DutyLeases1700000000005';
  async up(q: QueryRunner): Promise<void> {
    await q.query(fencedLeaseTableSql('approvals.duty_leases'));
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS approvals.duty_leases');
  }
}
