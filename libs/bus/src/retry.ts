import { Logger } from '@warden/observability';

/** How long a start keeps retrying a JetStream request the cluster cannot answer yet. */
export interface StartRetryOptions {
  /** Give up (and rethrow) after this long in total; default {@link START_RETRY_MS}. */
  maxWaitMs?: number;
  /** First delay; doubles per attempt up to `maxDelayMs` (default 250 ms → 5 s, with jitter). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  log?: Logger;
}

/**
 * Default time a start keeps retrying: long enough for a NATS cluster that lost a node to elect
 * leaders again and mark the node offline, short enough that a supervisor sees a broken deployment.
 */
export const START_RETRY_MS = 120_000;

/**
 * Whether a JetStream API failure is one the cluster recovers from by itself: a request timed out or
 * found no responder (a leader being elected, a new consumer placed on a node that was just killed),
 * or the server said 503 "JetStream system temporarily unavailable". A refusal (bad config, not
 * found, permission) is not.
 * @example isTransientJetStreamError(new Error('timeout')) // true
 */
export function isTransientJetStreamError(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: unknown; api_error?: { code?: number } } | undefined;
  if (!e) return false;
  if (e.name === 'TimeoutError' || e.name === 'NoRespondersError') return true;
  if (e.api_error?.code === 503 || e.code === 503 || e.code === '503' || e.code === 'TIMEOUT') return true;
  return /\btimeout\b|timed out|no responders|temporarily unavailable|no suitable peers|leader(ship)? (not|change)|not current/i.test(
    e.message ?? '',
  );
}

/**
 * Runs a start-up JetStream step (provision a stream or consumer, open an ordered read) and, while
 * it fails for a transient reason ({@link isTransientJetStreamError}), tries again with capped,
 * jittered exponential backoff, so a replica becomes ready as soon as the cluster has a quorum
 * again instead of exiting on the first `timeout`. Each attempt must be a fresh request (a new
 * ordered consumer is placed anew); it is given its attempt number (1, 2, …). Other errors, and the
 * last one after `maxWaitMs`, are thrown.
 * @example const info = await retryStart('stream events', () => jsm.streams.info('EVENTS'))
 */
export async function retryStart<T>(
  what: string,
  attempt: (n: number) => Promise<T>,
  opts: StartRetryOptions = {},
): Promise<T> {
  const maxWait = opts.maxWaitMs ?? START_RETRY_MS;
  const base = opts.baseDelayMs ?? 250;
  const cap = opts.maxDelayMs ?? 5000;
  const deadline = Date.now() + maxWait;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!isTransientJetStreamError(err) || Date.now() >= deadline) throw err;
      const delay = Math.min(cap, base * 2 ** Math.min(n - 1, 10)) * (0.5 + Math.random() / 2);
      (opts.log ?? defaultLog()).warn('jetstream not ready; retrying', {
        step: what,
        attempt: n,
        delay_ms: Math.round(delay),
        error: err as Error,
      });
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(delay, deadline - Date.now()))));
    }
  }
}

let log: Logger | undefined;
function defaultLog(): Logger {
  return (log ??= new Logger('bus').child('start'));
}
