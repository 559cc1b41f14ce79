import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { WorkConsumer, type BusConnection } from '@warden/bus';
import type { Subjects } from '@warden/contracts';
import { Logger } from '@warden/observability';
import { BUS, CONFIG, LOGGER, SUBJECTS } from '@warden/runtime';
import type { WorkersConfig } from '../../config';
import { ExecuteConsumer } from './execute.consumer';

/** Commands handed to the handler at once. */
export const EXECUTE_BATCH = 256;
/** Batches in flight per role: one runs its tools while the next is claimed. */
export const EXECUTE_BATCHES_IN_FLIGHT = 2;

/**
 * One durable consumer per configured role (`workers-execute-<role>`), created at bootstrap, taking
 * whatever is buffered in batches. The role list is configuration, so these cannot be static
 * `@JetStreamConsumer` handlers.
 */
@Injectable()
export class RoleConsumers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly consumers: WorkConsumer[] = [];
  private readonly log: Logger;

  constructor(
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(CONFIG) private readonly config: WorkersConfig,
    @Inject(LOGGER) log: Logger,
    private readonly handler: ExecuteConsumer,
  ) {
    this.log = log;
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const role of this.config.WORKER_ROLES) {
      const consumer = new WorkConsumer(
        this.bus,
        this.subjects,
        {
          service: 'workers',
          name: `execute-${role}`,
          stream: this.subjects.streams.commands,
          filterSubject: this.subjects.workerExecute(role),
          // redelivery after a crash waits this long; the consumer heartbeats while a tool runs
          ackWaitMs: this.config.WARDEN_ACK_WAIT_MS,
          concurrency: EXECUTE_BATCHES_IN_FLIGHT,
        },
        { batch: (msgs) => this.handler.handleBatch(msgs, role), maxBatch: EXECUTE_BATCH },
        this.log,
      );
      await consumer.start();
      this.consumers.push(consumer);
      this.log.info('consuming', {
        consumer: consumer.consumerName,
        subject: this.subjects.workerExecute(role),
        worker_id: this.config.WORKER_ID,
      });
    }
  }

  /** Stops taking commands and lets the ones running finish, before the bus connection drains. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.stop()));
    this.consumers.length = 0;
  }
}
