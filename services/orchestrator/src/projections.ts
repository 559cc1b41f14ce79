import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { BusConnection, Publisher } from '@warden/bus';
import { signingKeysOf, type Keyring } from '@warden/kernel';
import { CheckpointedProjection } from '@warden/persistence';
import type { RebuildTarget } from '@warden/runtime';
import { loadConfig, type OrchestratorConfig } from './config';
import { migrations } from './migrations';
import { AuditProjection } from './audit/projections/audit.projection';
import { auditKeysFromConfig } from './audit/audit-key';
import { AUDITED_TYPES } from './audit/domain/chain';
import { runMetricsRecorder } from './run/run.metrics';
import { RunProcessConsumer } from './run/consumers/run-process.consumer';
import { RunTimelineProjection } from './run/projections/run-timeline.projection';
import { RunPass } from './run/run.pass';
import { RunSigner } from './run/run-signer';
import { RECORDED_ONLY } from './run/domain/run.decide';

/** How long the runs pass holds events it only records (see {@link RECORDED_ONLY}). */
export const RUNS_LINGER_MS = 20;
/** How long the audit chain holds a batch open: it is read by auditors, never on a run's path. */
export const AUDIT_LINGER_MS = 250;

/**
 * Every projection the orchestrator runs. Used by the service and by `npm run projections:rebuild`.
 * @example for (const p of orchestratorProjections(ds, bus, subjects, publisher, config, keyring)) await p.rebuild()
 */
export function orchestratorProjections(
  ds: DataSource,
  bus: BusConnection,
  subjects: Subjects,
  publisher: Publisher,
  config: Pick<
    OrchestratorConfig,
    | 'APPROVAL_TTL_SECONDS'
    | 'APPROVAL_TTL_TIER2_SECONDS'
    | 'APPROVAL_TTL_TIER3_SECONDS'
    | 'PROJECTION_BATCH'
    | 'NODE_ENV'
    | 'WARDEN_AUDIT_KEY'
    | 'WARDEN_AUDIT_PUBLIC_KEYS'
    | 'WARDEN_KEYRING_SEED'
    | 'AUDIT_CHECKPOINT_EVERY'
    | 'AUDIT_CHECKPOINT_SECONDS'
    | 'CLIENT_EXECUTOR_MAX_TIER'
    | 'CLIENT_GRANT_TTL_SECONDS'
  >,
  keyring: Keyring,
): CheckpointedProjection[] {
  const ttlSeconds: Record<number, number> = {
    1: config.APPROVAL_TTL_SECONDS,
    2: config.APPROVAL_TTL_TIER2_SECONDS ?? config.APPROVAL_TTL_SECONDS,
    3: config.APPROVAL_TTL_TIER3_SECONDS ?? config.APPROVAL_TTL_SECONDS,
  };
  const runProcess = new RunProcessConsumer(
    subjects,
    publisher,
    // commands are signed with the orchestrator's own key; decisions verify with the policy's
    new RunSigner({ commands: signingKeysOf(keyring, 'orchestrator'), decisions: signingKeysOf(keyring, 'policy') }),
    {
      approvalTtlMs: (tier) => (ttlSeconds[tier] ?? config.APPROVAL_TTL_SECONDS) * 1000,
      requiredVotes: { 1: 1, 2: 1, 3: 2 },
      clientExecutor: { maxTier: config.CLIENT_EXECUTOR_MAX_TIER, grantTtlMs: config.CLIENT_GRANT_TTL_SECONDS * 1000 },
    },
  );
  // the whole config is passed in; its agent-metrics settings are optional here (rebuilds count nothing)
  const timeline = new RunTimelineProjection(runMetricsRecorder(config));
  return [
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name: 'runs',
        schema: 'orchestrator',
        service: 'orchestrator',
        stream: subjects.streams.events,
        filterSubject: subjects.runEvents,
        maxBatch: config.PROJECTION_BATCH,
        // events it only records wait up to 20 ms for company (fewer transactions per run); an event it
        // acts on, or a terminal one, is applied at once with whatever waited before it
        lingerMs: RUNS_LINGER_MS,
        lingerTypes: RECORDED_ONLY,
      },
      // the process manager and the runs read model in one ordered pass (one load, one fold per event)
      new RunPass(runProcess, timeline),
    ),
    // the audit hash chain: its own ordered pass over decisions and outcomes (and dead-letter handling)
    new CheckpointedProjection(
      ds,
      bus,
      subjects,
      publisher,
      {
        name: 'audit',
        schema: 'orchestrator',
        service: 'orchestrator',
        stream: subjects.streams.events,
        filterSubject: subjects.eventsAll,
        maxBatch: config.PROJECTION_BATCH,
        eventTypes: AUDITED_TYPES,
        // off every run's path: a record may lag its event by this much, and a batch holds many
        lingerMs: AUDIT_LINGER_MS,
        // every event of every run: read in rounds, not woken by each
        rounds: true,
      },
      new AuditProjection({
        chain: subjects.streams.events,
        keys: auditKeysFromConfig(config),
        checkpointEvery: config.AUDIT_CHECKPOINT_EVERY,
        checkpointSeconds: config.AUDIT_CHECKPOINT_SECONDS,
      }),
    ),
  ];
}

/** What `npm run projections:rebuild` needs to rebuild this service's read models. */
export const rebuildTarget: RebuildTarget<OrchestratorConfig> = {
  service: 'orchestrator',
  schema: 'orchestrator',
  migrations,
  loadConfig,
  projections: (ctx) => orchestratorProjections(ctx.ds, ctx.bus, ctx.subjects, ctx.publisher, ctx.config, ctx.keyring),
};
