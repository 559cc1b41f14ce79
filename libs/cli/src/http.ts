/**
 * What every `warden` command that calls a service's REST API shares: the operator token lookup,
 * the request itself, RFC 9457 problems as readable text, the hint after a 401/403.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ServiceName } from '@warden/contracts';
import { CliError } from './errors';
import type { Io } from './io';

/**
 * A service's default base URL. The contracts (zod schemas) load only when a URL variable is unset,
 * so a command pays for them only when it needs them.
 */
export async function defaultUrl(service: ServiceName | 'nats'): Promise<string> {
  const { DEFAULT_NATS_URL, defaultServiceUrl } = await import('@warden/contracts');
  return service === 'nats' ? DEFAULT_NATS_URL : defaultServiceUrl(service);
}

/** The repository root (libs/cli/dist → ../../..): where `npm start` writes var/admin.token. */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/**
 * WARDEN_TOKEN, then WARDEN_BOOTSTRAP_ADMIN_TOKEN, then `<root>/var/admin.token` (as written by
 * `npm start`); undefined if none.
 * @example operatorToken({ WARDEN_TOKEN: 'wop_…' }) // 'wop_…'
 */
export function operatorToken(env: Io['env'], root: string = REPO_ROOT): string | undefined {
  if (env.WARDEN_TOKEN) return env.WARDEN_TOKEN;
  if (env.WARDEN_BOOTSTRAP_ADMIN_TOKEN) return env.WARDEN_BOOTSTRAP_ADMIN_TOKEN;
  try {
    return readFileSync(join(root, 'var', 'admin.token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** An HTTP answer: the status, the body (parsed JSON, else the text, else undefined) and whether a token went with it. */
export interface Answer {
  status: number;
  body: unknown;
  url?: string;
  hadToken?: boolean;
}

interface FieldProblem {
  path?: string;
  message?: string;
}
interface Problem {
  title?: string;
  detail?: string;
  errors?: FieldProblem[];
}

const fieldLine = (e: FieldProblem) => `${e.path || '(root)'}: ${e.message}`;

/**
 * A readable line from an answer: an RFC 9457 problem's title and detail, then one indented line per
 * field error (a detail that only repeats the field errors is left out); any other body cut to 300
 * characters.
 * @example describeProblem({ status: 400, body: { title: 'Bad Request', errors: [{ path: 'limit', message: 'too big' }] } })
 * // '400 Bad Request\n  limit: too big'
 */
export function describeProblem(r: Answer): string {
  const b = r.body;
  if (b && typeof b === 'object') {
    const p = b as Problem;
    const errors = Array.isArray(p.errors) ? p.errors : [];
    // a validation problem's detail is its field errors joined with "; ": print them once
    const repeats = errors.length > 0 && p.detail === errors.map(fieldLine).join('; ');
    const head = [p.title, repeats ? undefined : p.detail].filter(Boolean).join(': ') || JSON.stringify(b);
    return `${r.status} ${head}${errors.map((e) => `\n  ${fieldLine(e)}`).join('')}`;
  }
  return `${r.status} ${String(b || '').slice(0, 300)}`;
}

/**
 * What to do about a 401 or 403 (undefined for other statuses): set a token, the token was refused,
 * or it lacks a role (`forbidden` says which, per service). A 403 whose detail explains something
 * other than a role or tier (e.g. "the requesting agent cannot vote on its own action") gets no
 * role hint: the detail is the explanation.
 */
export function authHint(r: Answer, forbidden = 'the token lacks the role this needs'): string | undefined {
  if (r.status === 401)
    return r.hadToken ? 'the token was refused' : 'no token: set WARDEN_TOKEN (or WARDEN_BOOTSTRAP_ADMIN_TOKEN)';
  if (r.status === 403) {
    const detail = r.body && typeof r.body === 'object' ? (r.body as Problem).detail : undefined;
    return !detail || /\brole\b|max_tier|\btier\b/.test(detail) ? forbidden : undefined;
  }
  return undefined;
}

/** One service's REST API, as the commands use it. */
export interface ApiClient {
  /** the base URL from `urlVar`, else the service's default (SERVICE_PORTS in @warden/contracts) */
  base(env: Io['env']): Promise<string>;
  /** Sends the request with the operator token; never throws on an HTTP status. */
  request(io: Io, method: string, pathname: string, body?: unknown, contentType?: string): Promise<Answer>;
  /** `request`, then the body of a 2xx answer; any other answer becomes a CliError. */
  call<T>(io: Io, method: string, pathname: string, body?: unknown, contentType?: string): Promise<T>;
  /** Throws a CliError (the problem plus an auth hint) for a 401 or 403 answer. */
  failOnAuth(r: Answer): void;
}

export interface ApiOptions {
  /** appears in "cannot reach <name> at <url>" */
  name: string;
  service: ServiceName;
  /** env variable with the base URL */
  urlVar: string;
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** the 403 hint */
  forbidden?: string;
}

/**
 * One service's REST API at `$<urlVar>` (default: the service's default port on 127.0.0.1).
 * @example const policy = apiClient({ name: 'the policy service', service: 'policy', urlVar: 'POLICY_URL' });
 * const active = await policy.call<ActiveBundle>(io, 'GET', '/v1/policy');
 */
export function apiClient(o: ApiOptions): ApiClient {
  const { name, urlVar, timeoutMs = 15_000, headers = {}, forbidden } = o;
  const base = async (env: Io['env']) => (env[urlVar] || (await defaultUrl(o.service))).replace(/\/+$/, '');

  async function request(io: Io, method: string, pathname: string, body?: unknown, contentType = 'application/json') {
    const url = `${await base(io.env)}${pathname}`;
    const token = operatorToken(io.env, io.root);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...headers,
          ...(body !== undefined ? { 'content-type': contentType } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      throw new CliError(`cannot reach ${name} at ${url}: ${e.cause?.code || e.message}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed, url, hadToken: Boolean(token) };
  }

  function failOnAuth(r: Answer): void {
    const hint = authHint(r, forbidden);
    if (r.status === 401 || r.status === 403) throw new CliError(`${describeProblem(r)}${hint ? `\n${hint}` : ''}`);
  }

  async function call<T>(io: Io, method: string, pathname: string, body?: unknown, contentType?: string) {
    const r = await request(io, method, pathname, body, contentType);
    if (r.status >= 200 && r.status < 300) return r.body as T;
    failOnAuth(r);
    throw new CliError(describeProblem(r));
  }

  return { base, request, call, failOnAuth };
}

/** The four service APIs the CLI calls. Votes carry `X-Warden-Channel: cli` for metrics and the audit trail. */
export const api = {
  ingest: (forbidden = 'the token lacks the role this needs (admin)') =>
    apiClient({ name: 'ingest', service: 'ingest', urlVar: 'INGEST_URL', forbidden }),
  policy: () => apiClient({ name: 'the policy service', service: 'policy', urlVar: 'POLICY_URL', timeoutMs: 60_000 }),
  orchestrator: (forbidden?: string, timeoutMs?: number) =>
    apiClient({
      name: 'the orchestrator',
      service: 'orchestrator',
      urlVar: 'ORCHESTRATOR_URL',
      ...(forbidden ? { forbidden } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    }),
  approvals: () =>
    apiClient({
      name: 'the approvals service',
      service: 'approvals',
      urlVar: 'APPROVALS_URL',
      headers: { 'x-warden-channel': 'cli' },
      forbidden: 'the token lacks the role (or max_tier) this needs',
    }),
};
