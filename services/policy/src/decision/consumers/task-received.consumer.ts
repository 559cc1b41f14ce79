import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BusMessage, JetStreamConsumer, Publisher, decodeEnvelope, type OutgoingMessage } from '@warden/bus';
import type { Envelope } from '@warden/contracts';
import { ValidationError } from '@warden/kernel';
import { childSpan } from '@warden/observability';
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
    const started = Date.now();
    const decided = envs.length ? await this.decisions.decideAll(envs) : [];
    decided.forEach((r, k) => {
      if (!(r instanceof Error)) traceDecision(envs[k]!, r, started);
    });
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

/**
 * The decision span of one run (GenAI attributes: the tool, the agent, the session as conversation),
 * under the run's consume span; it spans the batch's evaluation. Never the arguments.
 */
function traceDecision(received: Envelope<'task_received'>, out: readonly Envelope[], startTime: number): void {
  const made = out.find((e): e is Envelope<'decision_made'> => e.type === 'decision_made');
  const sub = received.data.submission;
  const span = childSpan(
    'policy',
    `decide ${sub.action.tool}`,
    received.trace_id,
    {
      'gen_ai.operation.name': 'decide',
      'gen_ai.tool.name': sub.action.tool,
      'gen_ai.agent.id': sub.agent.id,
      'gen_ai.conversation.id': sub.session_id,
      'warden.run_id': sub.run_id,
      'warden.agent.role': sub.agent.role,
      ...(made
        ? {
            'warden.decision.outcome': made.data.outcome,
            'warden.decision.mode': made.data.mode,
            'warden.tier': made.data.tier,
            'warden.policy_digest': made.data.policy_digest,
            'warden.policy_version': made.data.policy_version,
          }
        : {}),
    },
    { startTime },
  );
  span?.end();
}
