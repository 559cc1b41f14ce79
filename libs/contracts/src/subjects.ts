/**
 * The one resolver that names every stream, subject and consumer. A prefix other than `warden`
 * gives a disjoint set (tests use one prefix per run).
 * @example const s = new Subjects('warden'); s.event(runId, 'decision_made')
 */
export class Subjects {
  readonly streams: { ingest: string; events: string; commands: string; deadLetters: string };

  constructor(readonly prefix = 'warden') {
    if (!/^[a-z][a-z0-9_-]*$/.test(prefix)) throw new Error(`invalid subject prefix "${prefix}"`);
    const up = prefix.toUpperCase().replace(/-/g, '_');
    this.streams = { ingest: `${up}_INGEST`, events: `${up}_EVENTS`, commands: `${up}_CMD`, deadLetters: `${up}_DLQ` };
  }

  /**
   * Where submissions of any role may be published (open deployments, and services such as
   * approvals' compensating runs). `nats-prod.conf` gives integrators {@link ingestTasksOf} instead.
   */
  get ingestTasks(): string {
    return `${this.prefix}.ingest.tasks`;
  }
  /**
   * `warden.ingest.tasks.<role>`: submissions of one role only. A NATS user allowed to publish here is
   * bound to that role: ingest rejects a submission whose `agent.role` is another one.
   * @example new Subjects('warden').ingestTasksOf('dev') // 'warden.ingest.tasks.dev'
   */
  ingestTasksOf(role: string): string {
    return `${this.prefix}.ingest.tasks.${role}`;
  }
  /** Every per-role submission subject. */
  get ingestTasksByRole(): string {
    return `${this.prefix}.ingest.tasks.*`;
  }
  /** The role a per-role submission subject is bound to; undefined for any other subject. */
  ingestTaskRole(subject: string): string | undefined {
    const head = `${this.prefix}.ingest.tasks.`;
    if (!subject.startsWith(head)) return undefined;
    const role = subject.slice(head.length);
    return role.length > 0 && !role.includes('.') ? role : undefined;
  }
  /** Everything the ingest stream holds. */
  get ingestAll(): string {
    return `${this.prefix}.ingest.>`;
  }
  /** `warden.events.run.<run_id>.<type>` */
  event(runId: string, type: string): string {
    return `${this.prefix}.events.run.${runId}.${type}`;
  }
  /** Every run's events of one type. */
  eventsOfType(type: string): string {
    return `${this.prefix}.events.run.*.${type}`;
  }
  /** Every run event. */
  get runEvents(): string {
    return `${this.prefix}.events.run.>`;
  }
  /** Everything the events stream holds. */
  get eventsAll(): string {
    return `${this.prefix}.events.>`;
  }
  /** `warden.events.rejected.<token>.task_rejected` */
  rejected(token: string): string {
    return `${this.prefix}.events.rejected.${token}.task_rejected`;
  }
  /** `warden.events.directory.<entity_id>.<type>`: operators, API keys, standing approvals. */
  directory(entityId: string, type: string): string {
    return `${this.prefix}.events.directory.${entityId}.${type}`;
  }
  /** Every directory event. */
  get directoryAll(): string {
    return `${this.prefix}.events.directory.>`;
  }
  /** `warden.events.deadletter.<dlq_seq>.<type>`: an operator redrove or discarded a dead letter. */
  deadLetterEvent(dlqSeq: string, type: string): string {
    return `${this.prefix}.events.deadletter.${dlqSeq}.${type}`;
  }
  /** Every dead-letter handling event. */
  get deadLetterEventsAll(): string {
    return `${this.prefix}.events.deadletter.>`;
  }
  /** `warden.events.refused.<token>.command_refused`: refusals of commands whose run id is not usable. */
  refused(token: string): string {
    return `${this.prefix}.events.refused.${token}.command_refused`;
  }
  /** Every rejection. */
  get rejectedAll(): string {
    return `${this.prefix}.events.rejected.>`;
  }
  /** `warden.cmd.workers.<role>.execute` */
  workerExecute(role: string): string {
    return `${this.prefix}.cmd.workers.${role}.execute`;
  }
  get commandsAll(): string {
    return `${this.prefix}.cmd.>`;
  }
  /** Dead letters of one consumer: `warden.dlq.<service>.<consumer>`. */
  deadLetter(service: string, consumer: string): string {
    return `${this.prefix}.dlq.${service}.${consumer}`;
  }
  get deadLettersAll(): string {
    return `${this.prefix}.dlq.>`;
  }
  /** Request/reply dry-run evaluation. */
  get policyEvaluate(): string {
    return `${this.prefix}.policy.evaluate`;
  }
  /** A durable consumer's name: `<service>-<purpose>` (prefixed outside production naming). */
  durable(service: string, purpose: string): string {
    return `${service}-${purpose}`;
  }
}

/** True if `token` may be used as one subject token. */
export function isSubjectToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{1,200}$/.test(token);
}
