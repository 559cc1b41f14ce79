import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BusMessage, JetStreamConsumer, Publisher, decodeEnvelope } from '@warden/bus';
import { ValidationError } from '@warden/kernel';
import { PUBLISHER } from '@warden/runtime';
import { DecisionService } from '../decision.service';

/**
 * Every `task_received` gets exactly one `decision_made`. An envelope that fails the contract is
 * permanent (dead-lettered by the consumer); Redis or publish failures are retried.
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
    concurrency: 64,
  })
  async onTaskReceived(@Payload() msg: BusMessage): Promise<void> {
    const env = decodeEnvelope(msg.json());
    if (env.type !== 'task_received') {
      throw new ValidationError([{ path: 'type', message: `expected task_received, got ${env.type}` }]);
    }
    await this.publisher.publishEvents(await this.decisions.decide(env));
  }
}
