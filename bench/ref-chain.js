#!/usr/bin/env node
/*
 * The bare reference chain of bench/e2e.js, run as a child process of it (so its CPU is its own):
 * no Warden code, only @nats-io/jetstream and pg, on the same NATS and Postgres.
 *
 *   load generator --JetStream publish--> <prefix>.a.<id>   (stream <PREFIX>_A, file, limits, dedupe window)
 *   stage 1: durable pull consumer on A --JetStream publish--> <prefix>.b.<id>, ack A after the PubAck
 *   stage 2: durable pull consumer on B --> batched INSERT (one transaction per batch) --> ack B, then a
 *            core NATS notice on <prefix>.done.<id> per committed row (the load generator's "run_succeeded")
 *
 * Pipelined like Warden: stage 1 keeps up to 256 publishes in flight; stage 2 commits at once when
 * idle and, while a commit is in flight, gathers what arrives into the next batch (at most 500 rows).
 *
 * Environment: NATS_URL, REF_PREFIX, REF_DATABASE_URL. IPC: sends {ready: true} once consuming;
 * on 'stop' it stops consuming, drains and exits.
 */
'use strict';
const { connect } = require('@nats-io/transport-node');
const { jetstream, jetstreamManager, AckPolicy, RetentionPolicy, StorageType } = require('@nats-io/jetstream');
const { Pool } = require('pg');

const prefix = process.env.REF_PREFIX;
const STREAM_A = `${prefix.toUpperCase()}_A`;
const STREAM_B = `${prefix.toUpperCase()}_B`;
const MAX_BATCH = 500;
const STAGE1_IN_FLIGHT = 256;

async function main() {
  const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', name: 'bench-ref-chain' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc, { timeout: 10_000 });
  const stream = (name, subject) => ({
    name,
    subjects: [subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: 1,
    duplicate_window: 10 * 60 * 1e9,
  });
  await jsm.streams.add(stream(STREAM_A, `${prefix}.a.>`));
  await jsm.streams.add(stream(STREAM_B, `${prefix}.b.>`));
  const consumer = { ack_policy: AckPolicy.Explicit, ack_wait: 30 * 1e9, max_ack_pending: 10_000 };
  await jsm.consumers.add(STREAM_A, { ...consumer, durable_name: 'stage1' });
  await jsm.consumers.add(STREAM_B, { ...consumer, durable_name: 'stage2' });

  const pool = new Pool({ connectionString: process.env.REF_DATABASE_URL, max: 2 });
  await pool.query(
    'CREATE TABLE IF NOT EXISTS runs (id uuid PRIMARY KEY, body jsonb NOT NULL, committed_at timestamptz NOT NULL DEFAULT now())',
  );

  // stage 1: A -> B
  const inA = await (await js.consumers.get(STREAM_A, 'stage1')).consume({ max_messages: STAGE1_IN_FLIGHT * 2 });
  const inFlight = new Set();
  const stage1 = (async () => {
    for await (const m of inA) {
      while (inFlight.size >= STAGE1_IN_FLIGHT) await Promise.race(inFlight);
      const id = m.subject.slice(prefix.length + 3);
      const p = js
        .publish(`${prefix}.b.${id}`, m.data, { msgID: id })
        .then(
          () => m.ack(),
          () => m.nak(250),
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  })();

  // stage 2: B -> Postgres, batched
  const inB = await (await js.consumers.get(STREAM_B, 'stage2')).consume({ max_messages: MAX_BATCH * 2 });
  let buffer = [];
  let committing = null;
  const commit = async () => {
    while (buffer.length) {
      const batch = buffer.slice(0, MAX_BATCH);
      buffer = buffer.slice(batch.length);
      const ids = batch.map((m) => m.subject.slice(prefix.length + 3));
      try {
        await pool.query(
          'INSERT INTO runs (id, body) SELECT * FROM unnest($1::uuid[], $2::jsonb[]) ON CONFLICT (id) DO NOTHING',
          [ids, batch.map((m) => m.string())],
        );
        for (const m of batch) m.ack();
        for (const id of ids) nc.publish(`${prefix}.done.${id}`);
      } catch (err) {
        console.error('ref-chain commit failed:', err.message);
        for (const m of batch) m.nak(250);
      }
    }
    committing = null;
  };
  const stage2 = (async () => {
    for await (const m of inB) {
      buffer.push(m);
      committing ??= commit();
    }
  })();

  process.send?.({ ready: true });
  process.on('disconnect', () => process.exit(1)); // the benchmark died: never outlive it
  process.on('message', async (msg) => {
    if (msg !== 'stop') return;
    await inA.close();
    await inB.close();
    await Promise.all([stage1, stage2, ...inFlight]);
    await committing;
    await nc.drain();
    await pool.end();
    process.exit(0);
  });
}

main().catch((err) => {
  console.error(`ref-chain failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
