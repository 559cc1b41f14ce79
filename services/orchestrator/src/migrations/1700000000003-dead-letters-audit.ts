import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Dead letters as an operator handles them (a read model of WARDEN_DLQ plus who redrove or discarded
 * each one), and the audit hash chain: one record per audited event in stream order, each carrying
 * the hash of the one before, with checkpoints signed by the audit key.
 */
export class DeadLettersAudit1700000000003 implements MigrationInterface {
  name = 'DeadLettersAudit1700000000003';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE orchestrator.dead_letters (
      dlq_seq bigint PRIMARY KEY,
      dlq_subject text NOT NULL,
      service text NOT NULL,
      consumer text NOT NULL,
      code text NOT NULL,
      category text NOT NULL,
      reason text NOT NULL,
      original_subject text NOT NULL,
      original_stream text,
      original_seq bigint,
      deliveries int,
      headers jsonb NOT NULL,
      body bytea NOT NULL,
      dead_at timestamptz NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'redriven', 'discarded')),
      handled_by text,
      handled_by_id text,
      handled_at timestamptz,
      note text,
      redrive_msg_id text,
      redrive_seq bigint
    )`);
    await q.query('CREATE INDEX dead_letters_newest ON orchestrator.dead_letters (dead_at DESC, dlq_seq DESC)');
    await q.query('CREATE INDEX dead_letters_consumer ON orchestrator.dead_letters (service, consumer, dlq_seq DESC)');
    await q.query('CREATE INDEX dead_letters_code ON orchestrator.dead_letters (code, dlq_seq DESC)');
    await q.query(`CREATE TABLE orchestrator.audit_records (
      seq bigint PRIMARY KEY,
      stream_seq bigint NOT NULL UNIQUE,
      event_id uuid NOT NULL UNIQUE,
      type text NOT NULL,
      run_id uuid,
      occurred_at text NOT NULL,
      producer text NOT NULL,
      event_hash text NOT NULL,
      prev_hash text NOT NULL,
      hash text NOT NULL,
      event jsonb NOT NULL
    )`);
    await q.query('CREATE INDEX audit_records_occurred ON orchestrator.audit_records (occurred_at, seq)');
    await q.query(`CREATE TABLE orchestrator.audit_checkpoints (
      up_to_seq bigint PRIMARY KEY,
      head_hash text NOT NULL,
      created_at text NOT NULL,
      key_id text NOT NULL,
      sig text NOT NULL
    )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE orchestrator.audit_checkpoints');
    await q.query('DROP TABLE orchestrator.audit_records');
    await q.query('DROP TABLE orchestrator.dead_letters');
  }
}
