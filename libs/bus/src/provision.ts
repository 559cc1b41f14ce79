import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Subjects } from '@warden/contracts';
import { retryStart } from './retry';

/** Knobs for stream provisioning; production sets replicas to 3. */
export interface StreamOptions {
  replicas?: number;
  /** JetStream duplicate window; at least 2 minutes. */
  duplicateWindowMs?: number;
}

/** The configuration of every Warden stream, from the one subject resolver. */
export function streamConfigs(s: Subjects, opts: StreamOptions = {}): (Partial<StreamConfig> & { name: string })[] {
  const replicas = opts.replicas ?? 1;
  const dupe = nanos(Math.max(opts.duplicateWindowMs ?? 10 * 60_000, 2 * 60_000));
  const appendOnly = { deny_delete: true, deny_purge: true, allow_rollup_hdrs: false };
  return [
    {
      name: s.streams.ingest,
      description: 'Submitted proposals (TaskSubmission), as published by integrators',
      subjects: [s.ingestAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: dupe,
      max_msg_size: 512 * 1024,
      discard: DiscardPolicy.Old,
      ...appendOnly,
    },
    {
      name: s.streams.events,
      description: 'The append-only run event log',
      subjects: [s.eventsAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: dupe,
      max_msg_size: 1024 * 1024,
      discard: DiscardPolicy.Old,
      ...appendOnly,
    },
    {
      name: s.streams.commands,
      description: 'Commands to workers; removed once a worker acks',
      subjects: [s.commandsAll],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: dupe,
      max_msg_size: 1024 * 1024,
      discard: DiscardPolicy.Old,
    },
    {
      name: s.streams.deadLetters,
      description: 'Messages a consumer refused for good, with the reason in headers',
      subjects: [s.deadLettersAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: dupe,
      max_msg_size: 2 * 1024 * 1024,
      discard: DiscardPolicy.Old,
      deny_delete: true,
    },
  ];
}

/**
 * Creates every stream, or updates it to the wanted configuration. Safe to call from every replica
 * at every start. A request the cluster cannot answer yet (a node just lost) is retried, see {@link retryStart}.
 * @example await ensureStreams(bus.jsm, new Subjects('warden'))
 */
export async function ensureStreams(jsm: JetStreamManager, s: Subjects, opts: StreamOptions = {}): Promise<void> {
  for (const cfg of streamConfigs(s, opts)) await retryStart(`stream ${cfg.name}`, () => ensureStream(jsm, cfg));
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  const name = cfg.name;
  const existing = await jsm.streams.info(name).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!existing) {
    try {
      await jsm.streams.add(cfg);
      return;
    } catch (err) {
      // another replica created it first; fall through to update
      if (!/already in use|exists/i.test((err as Error).message)) throw err;
    }
  }
  // retention and storage cannot change after creation; everything else converges
  const { retention: _r, storage: _s, ...mutable } = cfg;
  void _r;
  void _s;
  await jsm.streams.update(name, mutable);
}

function isNotFound(err: unknown): boolean {
  return /not found/i.test((err as Error)?.message ?? '');
}
