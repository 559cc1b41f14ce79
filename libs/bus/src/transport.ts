import { Catch, type ArgumentsHost, type INestApplication, type RpcExceptionFilter } from '@nestjs/common';
import { EventPattern, Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { isObservable, lastValueFrom, throwError, type Observable } from 'rxjs';
import type { Subjects } from '@warden/contracts';
import { Logger } from '@warden/observability';
import type { BusConnection } from './connection';
import { WorkConsumer, type WorkConsumerSpec } from './work-consumer';
import type { BusMessage } from './message';

/** How a handler is bound to the bus: which stream, which subjects, how many at once. */
export interface ConsumerBinding {
  stream: keyof Subjects['streams'];
  filter: (s: Subjects) => string;
  concurrency?: number;
  maxDeliver?: number;
  ackWaitMs?: number;
  /**
   * Hand the method up to this many messages at once (`BusMessage[]`); it returns, per message in
   * order, `undefined` for success or the error that settles it (see {@link BatchHandler}).
   */
  batch?: number;
  /** See {@link WorkConsumerSpec.traceparent}. */
  traceparent?: (msg: BusMessage) => string | undefined;
}

/**
 * Marks a Nest method as a durable JetStream consumer named `<service>-<name>`. The method receives
 * a {@link BusMessage}; returning settles it (ack), throwing decides ack/nak/dead-letter.
 * @example
 *   \@JetStreamConsumer('task-received', { stream: 'events', filter: (s) => s.eventsOfType('task_received') })
 *   async onReceived(\@Payload() msg: BusMessage) { ... }
 */
export function JetStreamConsumer(name: string, binding: ConsumerBinding): MethodDecorator {
  return EventPattern(name, binding as unknown as Record<string, unknown>);
}

/** Lets domain errors reach the transport unchanged, so it can tell permanent from transient. */
@Catch()
export class RethrowRpcFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}

/** Nest transport strategy: every `@JetStreamConsumer` handler becomes a {@link WorkConsumer}. */
export class JetStreamTransport extends Server implements CustomTransportStrategy {
  private readonly consumers: WorkConsumer[] = [];
  private readonly log: Logger;

  constructor(
    private readonly bus: BusConnection,
    private readonly subjects: Subjects,
    private readonly service: string,
    private readonly defaults: { ackWaitMs?: number } = {},
  ) {
    super();
    this.log = new Logger(service).child('transport');
  }

  listen(callback: (...optionalParams: unknown[]) => void): void {
    this.startAll().then(
      () => callback(),
      (err: unknown) => callback(err),
    );
  }

  private async startAll(): Promise<void> {
    for (const [pattern, handler] of this.getHandlers()) {
      const b = handler.extras as unknown as ConsumerBinding;
      const spec: WorkConsumerSpec = {
        service: this.service,
        name: pattern,
        stream: this.subjects.streams[b.stream],
        filterSubject: b.filter(this.subjects),
        concurrency: b.concurrency,
        maxDeliver: b.maxDeliver,
        ackWaitMs: b.ackWaitMs ?? this.defaults.ackWaitMs,
        traceparent: b.traceparent,
      };
      const call = async (data: BusMessage | BusMessage[]): Promise<unknown> => {
        const out: unknown = await handler(data);
        return isObservable(out) ? lastValueFrom(out, { defaultValue: undefined }) : out;
      };
      const consumer = new WorkConsumer(
        this.bus,
        this.subjects,
        spec,
        b.batch
          ? { maxBatch: b.batch, batch: async (msgs) => (await call(msgs)) as (unknown | undefined)[] }
          : async (msg) => void (await call(msg)),
      );
      await consumer.start();
      this.consumers.push(consumer);
      this.log.info('consuming', { consumer: consumer.consumerName, subject: spec.filterSubject });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.stop()));
    this.consumers.length = 0;
  }

  on(): void {
    // status events are not exposed; connection health is reported by /health/ready
  }

  unwrap<T>(): T {
    return this.bus.nc as T;
  }
}

/**
 * Connects the JetStream transport to a Nest app and starts every consumer.
 * @example await attachJetStream(app, new JetStreamTransport(bus, subjects, 'policy'))
 */
export async function attachJetStream(app: INestApplication, transport: JetStreamTransport): Promise<void> {
  // inherits the app's global filters, whose non-HTTP branch must rethrow (see RethrowRpcFilter)
  app.connectMicroservice({ strategy: transport }, { inheritAppConfig: true });
  await app.startAllMicroservices();
}
