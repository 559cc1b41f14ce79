import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { retryStart } from './retry';

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
  const servers = url.split(',').map((s) => s.trim());
  const nc = await connect({
    // nats.js ignores credentials in a URL: take `nats://user:pass@host` apart (production users, deploy/nats)
    ...urlCredentials(servers),
    servers: servers.map(withoutCredentials),
    name: `warden-${name}`,
    timeout: timeoutMs,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // otherwise every request builds an Error for its stack trace: measurable CPU on the hot path
    noAsyncTraces: true,
  });
  // the API check times out while a cluster that lost its meta leader elects another: retry it
  const jsm = await retryStart('jetstream api', () => jetstreamManager(nc, { timeout: timeoutMs }));
  const js = jetstream(nc, { timeout: timeoutMs });
  return { nc, js, jsm };
}

/** `{user, pass}` from the first server URL that carries them (`nats://user:pass@host:4222`), else nothing. */
export function urlCredentials(servers: string[]): { user?: string; pass?: string } {
  for (const s of servers) {
    const m = /^[a-z]+:\/\/([^:@/]+)(?::([^@/]*))?@/i.exec(s);
    if (m)
      return { user: decodeURIComponent(m[1]!), ...(m[2] !== undefined ? { pass: decodeURIComponent(m[2]) } : {}) };
  }
  return {};
}

function withoutCredentials(server: string): string {
  return server.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1');
}
