import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BusMessage, JetStreamConsumer } from '@warden/bus';
import { busSource } from '../domain/submission';
import { SubmissionService } from '../submission.service';

/**
 * Submissions integrators publish to `<prefix>.ingest.tasks`. Returning acks: a rejection is an
 * outcome (a `task_rejected` event), not a failure, so invalid input is never dead-lettered. Only
 * transient failures (Postgres, publish) throw, and those are retried.
 */
@Controller()
export class SubmissionConsumer {
  constructor(@Inject(SubmissionService) private readonly submissions: SubmissionService) {}

  @JetStreamConsumer('tasks', { stream: 'ingest', filter: (s) => s.ingestTasks, concurrency: 64 })
  async onSubmission(@Payload() msg: BusMessage): Promise<void> {
    const source = busSource({
      stream: msg.raw.info.stream,
      seq: msg.seq,
      msgId: msg.msgId,
      traceparent: msg.traceparent,
    });
    await this.submissions.submit(source, msg.data);
  }
}
