import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BusMessage, JetStreamConsumer } from '@warden/bus';
import { busSource } from '../domain/submission';
import { SubmissionService } from '../submission.service';

/**
 * Submissions integrators publish to `<prefix>.ingest.tasks`, taken in batches (one transaction and
 * one pipelined publish per batch). A rejection is an outcome (a `task_rejected` event), not a
 * failure, so invalid input is acked, never dead-lettered. Only transient failures (Postgres,
 * publish) settle a message with an error, and those are retried.
 */
@Controller()
export class SubmissionConsumer {
  constructor(@Inject(SubmissionService) private readonly submissions: SubmissionService) {}

  @JetStreamConsumer('tasks', { stream: 'ingest', filter: (s) => s.ingestTasks, batch: 256, concurrency: 2 })
  async onSubmissions(@Payload() msgs: BusMessage[]): Promise<(unknown | undefined)[]> {
    const results = await this.submissions.submitAll(
      msgs.map((msg) => ({
        source: busSource({
          stream: msg.raw.info.stream,
          seq: msg.seq,
          msgId: msg.msgId,
          traceparent: msg.traceparent,
        }),
        body: msg.data,
      })),
    );
    return results.map((r) => (r.status === 'fulfilled' ? undefined : (r.reason ?? new Error('submission failed'))));
  }
}
