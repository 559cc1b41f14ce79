import { WardenClient, type WardenClientOptions } from '@warden/client';
import type { System } from './system';

/**
 * A @warden/client over HTTP to a running System (ingest, and the orchestrator for run streams) for a
 * key and its agent, retrying quickly (4 attempts, 50-500 ms) unless `opts` says otherwise.
 */
export function httpClient(
  sys: System,
  opts: Partial<WardenClientOptions> & Pick<WardenClientOptions, 'apiKey' | 'agent'>,
): WardenClient {
  return new WardenClient({
    baseUrl: sys.url('ingest'),
    orchestratorUrl: sys.url('orchestrator'),
    retry: { attempts: 4, baseDelayMs: 50, maxDelayMs: 500 },
    ...opts,
  });
}
