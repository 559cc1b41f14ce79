'use strict';
/**
 * What every `warden` command that calls a service's REST API shares: the operator token lookup,
 * the request itself, RFC 9457 problems as readable text, the hint after a 401/403, and the error
 * type that makes a command print `warden: <message>` and exit 1.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** A failure the user can act on: printed as `warden: <message>`, exit code 1. */
class CliError extends Error {}

/**
 * WARDEN_TOKEN, then WARDEN_BOOTSTRAP_ADMIN_TOKEN, then `<root>/var/admin.token` (as written by
 * `npm start`); undefined if none.
 * @example operatorToken({ WARDEN_TOKEN: 'wop_…' }) // 'wop_…'
 */
function operatorToken(env, root = ROOT) {
  if (env.WARDEN_TOKEN) return env.WARDEN_TOKEN;
  if (env.WARDEN_BOOTSTRAP_ADMIN_TOKEN) return env.WARDEN_BOOTSTRAP_ADMIN_TOKEN;
  try {
    return fs.readFileSync(path.join(root || ROOT, 'var', 'admin.token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A readable line from an answer `{ status, body }`: an RFC 9457 problem's title and detail, then
 * one indented line per field error; any other body cut to 300 characters.
 * @example describeProblem({ status: 400, body: { title: 'Bad Request', errors: [{ path: 'limit', message: 'too big' }] } })
 * // '400 Bad Request\n  limit: too big'
 */
function describeProblem(r) {
  const b = r.body;
  if (b && typeof b === 'object') {
    const head = [b.title, b.detail].filter(Boolean).join(': ') || JSON.stringify(b);
    const errs = Array.isArray(b.errors) ? b.errors.map((e) => `\n  ${e.path || '(root)'}: ${e.message}`).join('') : '';
    return `${r.status} ${head}${errs}`;
  }
  return `${r.status} ${String(b || '').slice(0, 300)}`;
}

/**
 * What to do about a 401 or 403 (undefined for other statuses): set a token, the token was
 * refused, or it lacks a role (`forbidden` says which, per service).
 */
function authHint(r, forbidden = 'the token lacks the role this needs') {
  if (r.status === 401)
    return r.hadToken ? 'the token was refused' : 'no token: set WARDEN_TOKEN (or WARDEN_BOOTSTRAP_ADMIN_TOKEN)';
  if (r.status === 403) return forbidden;
  return undefined;
}

/**
 * One service's REST API. `name` appears in "cannot reach <name> at <url>"; `urlVar` names the env
 * variable with the base URL (else `defaultUrl`); `forbidden` is the 403 hint; `headers` go with
 * every request.
 * @example const policy = apiClient({ name: 'the policy service', urlVar: 'POLICY_URL', defaultUrl: 'http://127.0.0.1:7102' });
 * const active = await policy.call(io, 'GET', '/v1/policy');
 */
function apiClient({ name, urlVar, defaultUrl, timeoutMs = 15_000, headers = {}, forbidden }) {
  const base = (env) => (env[urlVar] || defaultUrl).replace(/\/+$/, '');

  /**
   * Sends the request with the operator token; never throws on an HTTP status. A string body is
   * sent as is (with `contentType`), anything else as JSON. Resolves `{ status, body, url, hadToken }`
   * (body: parsed JSON, else the text, else undefined).
   */
  async function request(io, method, pathname, body, contentType = 'application/json') {
    const url = `${base(io.env)}${pathname}`;
    const token = operatorToken(io.env, io.root);
    let res;
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
      throw new CliError(`cannot reach ${name} at ${url}: ${err.cause?.code || err.message}`);
    }
    const text = await res.text();
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed, url, hadToken: Boolean(token) };
  }

  /** Throws a CliError (the problem plus an auth hint) for a 401 or 403 answer. */
  function failOnAuth(r) {
    const hint = authHint(r, forbidden);
    if (hint) throw new CliError(`${describeProblem(r)}\n${hint}`);
  }

  /** `request`, then the body of a 2xx answer; any other answer becomes a CliError. */
  async function call(io, method, pathname, body, contentType) {
    const r = await request(io, method, pathname, body, contentType);
    if (r.status >= 200 && r.status < 300) return r.body;
    failOnAuth(r);
    throw new CliError(describeProblem(r));
  }

  return { base, request, call, failOnAuth };
}

/**
 * Wraps a group command `(argv, io) => exit code` into the group contract `(argv, env, io)`: `io.env`
 * becomes `env`, and a CliError prints `warden: <message>` and exits 1 (usage errors still reach
 * the main CLI, which exits 2).
 */
function command(fn) {
  return async (argv, env, io) => {
    const ctx = { ...io, env: env || io.env };
    try {
      return await fn(argv, ctx);
    } catch (err) {
      if (err instanceof CliError) {
        ctx.stderr.write(`warden: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  };
}

module.exports = { CliError, operatorToken, describeProblem, authHint, apiClient, command };
