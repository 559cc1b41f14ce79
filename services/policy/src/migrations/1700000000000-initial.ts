import type { MigrationInterface, QueryRunner } from 'typeorm';
import { checkpointTableSql } from '@warden/persistence';

export class Initial1700000000000 implements MigrationInterface {
  name = 'Initial1700000000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE SCHEMA IF NOT EXISTS "policy"');
    await q.query(checkpointTableSql('policy'));
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS "policy".projection_checkpoints');
  }
}
