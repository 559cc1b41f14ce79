import type { FieldError } from '@warden/contracts';
import { WardenApiError, WardenAuthError, WardenNetworkError, WardenValidationError } from './errors';

/**
 * When to try a request again: network errors, `5xx` and `429` (honouring `Retry-After`), with
 * exponential backoff and full jitter. Only requests that are safe to repeat are retried: reads, and
 * writes that carry an idempotency key (a proposal) or a single-use grant (a report).
 * @example new WardenClient({ baseUrl, apiKey, agent, retry: { attempts: 5, baseDelayMs: 100 } })
 */
export interface RetryPolicy {
  /** Total attempts, the first included (default 4). */
  attempts?: number;
  /** First backoff (default 200 ms); doubles per attempt, capped by `maxDelayMs` (default 5 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * How the client talks HTTP: its fetch, key, retry policy and per-request timeout.
 * @example const http: HttpOptions = { apiKey, fetch, retry: { attempts: 4, baseDelayMs: 200, maxDelayMs: 5000 }, timeoutMs: 30_000, userAgent: 'x' }
 */
export interface HttpOptions {
  apiKey: string;
  fetch: typeof fetch;
  retry: Required<RetryPolicy>;
  /** Per attempt (default 30 s). */
  timeoutMs: number;
  userAgent: string;
}

/**
 * A JSON answer: its status, body and headers.
 * @example const { status, body } = await requestJson<{ run_id: string }>(http, 'POST', url, submission)
 */
export interface JsonAnswer<T> {
  status: number;
  body: T;
  headers: Headers;
  /** Which attempt got this answer (1: the first; more: after retries). */
  attempt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends one JSON request with the client's retry policy; throws a typed {@link WardenApiError} for a
 * problem answer and {@link WardenNetworkError} when no attempt got an answer.
 * @example const { body } = await requestJson<{ run_id: string }>(http, 'POST', url, submission)
 */
export async function requestJson<T>(
  http: HttpOptions,
  method: string,
  url: string,
  body?: unknown,
): Promise<JsonAnswer<T>> {
  const { attempts, baseDelayMs, maxDelayMs } = http.retry;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let res: Response;
    try {
      res = await http.fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${http.apiKey}`,
          accept: 'application/json',
          'user-agent': http.userAgent,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(http.timeoutMs),
      });
    } catch (err) {
      lastError = err;
      if (attempt < attempts) await sleep(backoff(attempt, baseDelayMs, maxDelayMs));
      continue;
    }
    if (res.ok) return { status: res.status, body: (await res.json()) as T, headers: res.headers, attempt };
    const problem = await problemOf(res);
    if ((res.status >= 500 || res.status === 429) && attempt < attempts) {
      lastError = problem;
      const wait = problem.retryAfterSeconds !== undefined ? problem.retryAfterSeconds * 1000 : 0;
      await sleep(Math.min(maxDelayMs, Math.max(wait, backoff(attempt, baseDelayMs, maxDelayMs))));
      continue;
    }
    throw problem;
  }
  if (lastError instanceof WardenApiError) throw lastError;
  throw new WardenNetworkError(
    `${method} ${url} failed after ${attempts} attempt(s): ${String((lastError as Error)?.message ?? lastError)}`,
    {
      cause: lastError,
    },
  );
}

/** Full-jitter exponential backoff. */
function backoff(attempt: number, base: number, max: number): number {
  return Math.random() * Math.min(max, base * 2 ** (attempt - 1));
}

/**
 * The typed error for a non-2xx answer: its problem+json `title` is the contract's code.
 * @example throw await problemOf(res)
 */
export async function problemOf(res: Response): Promise<WardenApiError> {
  let body: { title?: string; type?: string; detail?: string; errors?: FieldError[] } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON (a proxy's error page): the status alone
  }
  const code =
    (typeof body.type === 'string' && body.type.startsWith('urn:warden:error:')
      ? body.type.slice('urn:warden:error:'.length)
      : body.title) ?? `HTTP.${res.status}`;
  const retryAfter = Number(res.headers.get('retry-after'));
  const args = [
    res.status,
    code,
    body.detail ?? res.statusText,
    Array.isArray(body.errors) ? body.errors : [],
    Number.isFinite(retryAfter) && res.headers.has('retry-after') ? retryAfter : undefined,
  ] as const;
  if (res.status === 400) return new WardenValidationError(...args);
  if (res.status === 401 || res.status === 403) return new WardenAuthError(...args);
  return new WardenApiError(...args);
}
