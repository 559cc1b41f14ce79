import { Controller, Inject } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { BusMessage, JetStreamConsumer, decodeEnvelope } from '@warden/bus';
import { ValidationError } from '@warden/kernel';
import { ActiveBundle } from '../../bundle/active-bundle';
import { DEFAULT_WINDOW_SECONDS } from '../domain/usage.request';
import { PolicyStateStore } from '../policy-state.store';

/**
 * Loop detection learns failures here: each `run_failed` counts one failure of the run's action
 * (tool + args) in its session, once per run (Redis marks the run), so the next proposal of the same
 * action is judged with that count. Runs the policy never judged (or judged without a session) are skipped.
 */
@Controller()
export class RunFailedConsumer {
  constructor(
    @Inject(PolicyStateStore) private readonly state: PolicyStateStore,
    @Inject(ActiveBundle) private readonly bundles: ActiveBundle,
  ) {}

  @JetStreamConsumer('run-failed', {
    stream: 'events',
    filter: (s) => s.eventsOfType('run_failed'),
    batch: 64,
    concurrency: 1,
  })
  async onRunFailed(@Payload() msgs: BusMessage[]): Promise<(unknown | undefined)[]> {
    const ttl = this.bundles.current.bundle.budgets.session?.window_seconds ?? DEFAULT_WINDOW_SECONDS;
    return Promise.all(
      msgs.map(async (msg) => {
        try {
          const env = decodeEnvelope(msg.json());
          if (env.type !== 'run_failed' || !env.run_id)
            throw new ValidationError([{ path: 'type', message: `expected run_failed, got ${env.type}` }]);
          await this.state.recordFailure(env.run_id, ttl);
          return undefined;
        } catch (err) {
          return err ?? new Error('run_failed handling failed');
        }
      }),
    );
  }
}
