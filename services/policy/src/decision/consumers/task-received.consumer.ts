import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BusMessage, JetStreamConsumer, Publisher, decodeEnvelope, type OutgoingMessage } from '@warden/bus';
import type { Envelope } from '@warden/contracts';
import { ValidationError } from '@warden/kernel';
import { PUBLISHER } from '@warden/runtime';
import { DecisionService } from '../decision.service';

/**
 * Every `task_received` gets exactly one `decision_made`. Handled in batches: one pipelined Redis
 * write for the batch's session usage, one pipelined publish of every resulting event. An envelope
 * that fails the contract is permanent for that message only (dead-lettered); Redis or publish
 * failures are retried.
 */
@Controller()
export class TaskReceivedConsumer {
  constructor(
    @Inject(DecisionService) private readonly decisions: DecisionService,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
  ) {}

  @JetStreamConsumer('task-received', {
    stream: 'events',
    filter: (s) => s.eventsOfType('task_received'),
    batch: 256,
    concurrency: 2,
  })
  async onTaskReceived(@Payload() msgs: BusMessage[]): Promise<(unknown | undefined)[]> {
    const outcomes: (unknown | undefined)[] = new Array(msgs.length).fill(undefined);
    const envs: Envelope<'task_received'>[] = [];
    const envOf: number[] = [];
    msgs.forEach((msg, i) => {
      try {
        envs.push(decodeTaskReceived(msg));
        envOf.push(i);
      } catch (err) {
        outcomes[i] = err ?? new Error('decode failed');
      }
    });
    const decided = envs.length ? await this.decisions.decideAll(envs) : [];
    const outgoing: OutgoingMessage[] = [];
    const publishing: number[] = [];
    decided.forEach((r, k) => {
      const i = envOf[k]!;
      if (r instanceof Error) {
        outcomes[i] = r;
        return;
      }
      for (const e of r) outgoing.push(this.publisher.eventMessage(e));
      publishing.push(i);
    });
    if (outgoing.length) {
      try {
        await this.publisher.publishAll(outgoing);
      } catch (err) {
        // ids are deterministic and usage is recorded once per run: redelivering them all is safe
        for (const i of publishing) outcomes[i] = err ?? new Error('publish failed');
      }
    }
    return outcomes;
  }
}

function decodeTaskReceived(msg: BusMessage): Envelope<'task_received'> {
  const env = decodeEnvelope(msg.json());
  if (env.type !== 'task_received') {
    throw new ValidationError([{ path: 'type', message: `expected task_received, got ${env.type}` }]);
  }
  return env;
}
