import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BusMessage, JetStreamConsumer, decodeEnvelope } from '@warden/bus';
import type { Envelope, EventType } from '@warden/contracts';
import { ValidationError } from '@warden/kernel';
import { SlackNotifier } from '../slack-notifier';
import { SlackPlanNotifier } from '../slack-plans';

function decodeAs<T extends EventType>(msg: BusMessage, type: T): Envelope<T> {
  const env = decodeEnvelope(msg.json());
  if (env.type !== type) throw new ValidationError([{ path: 'type', message: `expected ${type}, got ${env.type}` }]);
  return env as Envelope<T>;
}

/**
 * Durable consumers that mirror approvals into Slack. Each handler is idempotent (the Slack message
 * table remembers channel + ts), so redeliveries never post twice; Slack outages nak with backoff.
 */
@Controller()
export class SlackEventsConsumer {
  constructor(
    private readonly notifier: SlackNotifier,
    private readonly plans: SlackPlanNotifier,
  ) {}

  @JetStreamConsumer('slack-requested', {
    stream: 'events',
    filter: (s) => s.eventsOfType('approval_requested'),
    concurrency: 16,
  })
  async onRequested(@Payload() msg: BusMessage): Promise<void> {
    const env = decodeAs(msg, 'approval_requested');
    // a plan's items share one message (the plan's); any other approval gets its own
    if (await this.plans.onRequested(env)) return;
    await this.notifier.onRequested(env);
  }

  @JetStreamConsumer('slack-escalated', { stream: 'events', filter: (s) => s.eventsOfType('approval_escalated') })
  async onEscalated(@Payload() msg: BusMessage): Promise<void> {
    const env = decodeAs(msg, 'approval_escalated');
    // a plan item has no message of its own: the plan is escalated instead
    if (await this.plans.onEscalated(env)) return;
    await this.notifier.onEscalated(env);
  }

  @JetStreamConsumer('slack-granted', { stream: 'events', filter: (s) => s.eventsOfType('approval_granted') })
  async onGranted(@Payload() msg: BusMessage): Promise<void> {
    const env = decodeAs(msg, 'approval_granted');
    await this.notifier.onClosed(env, 'granted');
    await this.plans.refresh(env.run_id);
  }

  @JetStreamConsumer('slack-rejected', { stream: 'events', filter: (s) => s.eventsOfType('approval_rejected') })
  async onRejected(@Payload() msg: BusMessage): Promise<void> {
    const env = decodeAs(msg, 'approval_rejected');
    await this.notifier.onClosed(env, 'rejected');
    await this.plans.refresh(env.run_id);
  }

  @JetStreamConsumer('slack-voided', { stream: 'events', filter: (s) => s.eventsOfType('run_denied') })
  async onDenied(@Payload() msg: BusMessage): Promise<void> {
    const env = decodeAs(msg, 'run_denied');
    await this.notifier.onVoided(env);
    // a plan item denied (by policy at first, or a voided grant) shows on the plan's message
    await this.plans.refresh(env.run_id);
  }

  @JetStreamConsumer('slack-expired', { stream: 'events', filter: (s) => s.eventsOfType('approval_expired') })
  async onExpired(@Payload() msg: BusMessage): Promise<void> {
    const env = decodeAs(msg, 'approval_expired');
    await this.notifier.onClosed(env, 'expired');
    await this.plans.refresh(env.run_id);
  }
}
