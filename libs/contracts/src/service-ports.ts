/**
 * The five services and the HTTP port each listens on by default (`<SERVICE>_PORT` overrides it);
 * a client's default base URL is `http://127.0.0.1:<port>` (CONTRACT §1).
 * @example defaultServiceUrl('orchestrator') // 'http://127.0.0.1:7103'
 */
export const SERVICE_PORTS = {
  ingest: 7101,
  policy: 7102,
  orchestrator: 7103,
  approvals: 7104,
  workers: 7105,
} as const;
export type ServiceName = keyof typeof SERVICE_PORTS;

/** The NATS server a client uses when NATS_URL is not set. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** `http://127.0.0.1:<default port>` of a service: where a local client finds it without configuration. */
export function defaultServiceUrl(service: ServiceName): string {
  return `http://127.0.0.1:${SERVICE_PORTS[service]}`;
}
