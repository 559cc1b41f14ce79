import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import type { Subjects } from '@warden/contracts';
import { BusMessage, JetStreamConsumer } from '@warden/bus';
import { SUBJECTS } from '@warden/runtime';
import { formatTraceparent } from '@warden/observability';
import { busSource, traceIdFor } from '../domain/submission';
import { SubmissionService } from '../submission.service';

/**
 * Submissions published to `<prefix>.ingest.tasks` (any role: open deployments, services) and to
 * `<prefix>.ingest.tasks.<role>` (one role: what `nats-prod.conf` grants integrators; another
 * `agent.role` there is rejected on `agent.role`), taken in batches (one transaction and one
 * pipelined publish per batch). A rejection is an outcome (a `task_rejected` event), not a failure,
 * so invalid input is acked, never dead-lettered. Only transient failures (Postgres, publish) settle
 * a message with an error, and those are retried.
 */
@Controller()
export class SubmissionConsumer {
  constructor(
    @Inject(SubmissionService) private readonly submissions: SubmissionService,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
  ) {}

  @JetStreamConsumer('tasks', {
    stream: 'ingest',
    filter: (s) => s.ingestTasks,
    batch: 256,
    concurrency: 2,
    traceparent: submissionTraceparent,
  })
  onSubmissions(@Payload() msgs: BusMessage[]): Promise<(unknown | undefined)[]> {
    return this.take(msgs);
  }

  @JetStreamConsumer('tasks-role', {
    stream: 'ingest',
    filter: (s) => s.ingestTasksByRole,
    batch: 256,
    concurrency: 2,
    traceparent: submissionTraceparent,
  })
  onRoleSubmissions(@Payload() msgs: BusMessage[]): Promise<(unknown | undefined)[]> {
    return this.take(msgs);
  }

  private async take(msgs: BusMessage[]): Promise<(unknown | undefined)[]> {
    const results = await this.submissions.submitAll(
      msgs.map((msg) => ({
        source: busSource({
          stream: msg.raw.info.stream,
          seq: msg.seq,
          msgId: msg.msgId,
          traceparent: msg.traceparent,
          subjectRole: this.subjects.ingestTaskRole(msg.subject),
        }),
        body: msg.data,
      })),
    );
    return results.map((r) => (r.status === 'fulfilled' ? undefined : (r.reason ?? new Error('submission failed'))));
  }
}

/**
 * The context a submission's consume span continues: the submitter's `traceparent`, else one under the
 * trace id ingest derives for the delivery (so the span, the run and a redelivery share one trace).
 */
function submissionTraceparent(msg: BusMessage): string | undefined {
  if (msg.traceparent) return msg.traceparent;
  const traceId = traceIdFor(busSource({ stream: msg.raw.info.stream, seq: msg.seq }));
  return formatTraceparent(traceId, traceId.slice(16), true);
}
