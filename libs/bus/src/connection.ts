import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';

/** An open NATS connection with its JetStream client and manager. */
export interface BusConnection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/**
 * Connects to NATS (reconnecting forever once connected) and opens JetStream.
 * @example const bus = await connectBus('nats://127.0.0.1:4222', 'policy')
 */
export async function connectBus(url: string, name: string, timeoutMs = 5000): Promise<BusConnection> {
  const nc = await connect({
    servers: url.split(',').map((s) => s.trim()),
    name: `warden-${name}`,
    timeout: timeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // otherwise every request builds an Error for its stack trace: measurable CPU on the hot path
    noAsyncTraces: true,
  });
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  const js = jetstream(nc, { timeout: timeoutMs });
  return { nc, js, jsm };
}
