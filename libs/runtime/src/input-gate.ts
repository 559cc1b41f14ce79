import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import getRawBody from 'raw-body';
import { decodeJson, printable, stringProblem, type FieldError } from '@warden/contracts';
import { writeProblem } from './problem.filter';

/** A request that passed the {@link inputGate}: the decoded body bytes, and the JSON value when it is JSON. */
export interface RawBodyRequest extends IncomingMessage {
  /** The body exactly as sent, after `Content-Encoding` is undone (signatures are over these bytes). */
  rawBody?: Buffer;
  body?: unknown;
}

/** A tighter or looser body limit for some routes (the first match wins). */
export interface BodyLimit {
  method?: string;
  path: RegExp;
  bytes: number;
}

/** The service's {@link BodyLimit}s: `{ provide: BODY_LIMITS, useValue: [...] }` among its root module's providers. */
export const BODY_LIMITS = Symbol('BODY_LIMITS');

/** Every route not named by a {@link BodyLimit}: the largest body a route takes (a policy bundle, 1 MiB). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json$/;
/** Text bodies read by handlers (policy YAML, Slack forms; untyped too): strict UTF-8 without NUL. */
const TEXT_TYPE = /^(text\/[a-z0-9.+-]+|application\/(x-)?yaml|application\/x-www-form-urlencoded)$/;
const CODINGS = new Set(['identity', 'gzip', 'x-gzip', 'deflate', 'br']);

type Next = (err?: unknown) => void;
const EMPTY = Buffer.alloc(0);

/**
 * The HTTP input gate, installed before every route of every service (so before auth): the URL
 * (path and query, percent-decoded, must be UTF-8 without NUL), then the body — `Content-Encoding`
 * (identity, gzip, deflate, br; anything else 415, a gzip that is not gzip 400), charset (UTF-8 only,
 * else 415), size (413 at once when `Content-Length` or the bytes read pass the route's limit, and the
 * connection is closed so no unread body is taken for the next request), then for JSON the shared
 * {@link decodeJson} rule (depth, number range, NUL, lone surrogates → 400 naming each field). Every
 * refusal is `application/problem+json`. Sets `req.rawBody` (decoded bytes) and `req.body` (JSON).
 * @example expressApp.use(inputGate(() => [{ method: 'POST', path: /^\/v1\/tasks\/?$/, bytes: 262144 }]))
 */
export function inputGate(limits: () => readonly BodyLimit[] = () => []) {
  return (req: RawBodyRequest, res: ServerResponse, next: Next): void => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const refuse = (status: number, title: string, detail: string, errors?: FieldError[]) =>
      writeProblem(res, { type: 'about:blank', title, status, detail, errors }, { req, close: hasBody });

    const urlErrors = urlProblems(req.url ?? '/');
    if (urlErrors.length > 0) return refuse(400, 'Bad Request', describe(urlErrors), urlErrors);
    if (!hasBody) {
      req.rawBody = EMPTY;
      return next();
    }

    const contentType = parseContentType(req.headers['content-type']);
    if (contentType.charset !== undefined && !/^utf-?8$/.test(contentType.charset))
      return refuse(
        415,
        'Unsupported Media Type',
        `charset ${printable(contentType.charset)} is not accepted: send UTF-8`,
      );
    const codings = (req.headers['content-encoding'] ?? 'identity')
      .toLowerCase()
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '');
    const unknown = codings.find((c) => !CODINGS.has(c));
    if (unknown !== undefined)
      return refuse(415, 'Unsupported Media Type', `content-encoding ${printable(unknown)} is not accepted`);

    const path = (req.url ?? '').split('?')[0] ?? '';
    const limit =
      limits().find((l) => (l.method ?? req.method) === req.method && l.path.test(path))?.bytes ?? DEFAULT_BODY_LIMIT;
    const tooLarge = () =>
      refuse(413, 'Payload Too Large', `body exceeds ${limit} bytes`, [
        { path: '', message: `body exceeds the limit of ${limit} bytes` },
      ]);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return tooLarge();

    // undo the codings in reverse order; each decoded stream is counted against the limit too
    let stream: Readable = req;
    const decoders: Readable[] = [];
    for (const c of [...codings].reverse()) {
      if (c === 'identity') continue;
      const d = c === 'br' ? createBrotliDecompress() : c === 'deflate' ? createInflate() : createGunzip();
      stream = stream.pipe(d);
      decoders.push(d);
    }

    let compressed = 0;
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      req.off('data', onCompressed);
      for (const s of new Set([req, ...decoders])) s.off('error', onError);
      fn();
    };
    const onCompressed = (chunk: Buffer) => {
      compressed += chunk.length;
      if (compressed > limit) finish(tooLarge);
    };
    const onBody = (body: Buffer) =>
      finish(() => {
        req.rawBody = body;
        if (JSON_TYPE.test(contentType.type)) {
          if (body.length === 0) return next();
          const decoded = decodeJson(body);
          if (!decoded.ok)
            return writeProblem(
              res,
              {
                type: 'about:blank',
                title: 'Bad Request',
                status: 400,
                detail: describe(decoded.errors),
                errors: decoded.errors,
              },
              { req },
            );
          req.body = decoded.value;
        } else if (contentType.type === '' || TEXT_TYPE.test(contentType.type)) {
          const problem = textProblem(body);
          if (problem)
            return writeProblem(
              res,
              {
                type: 'about:blank',
                title: 'Bad Request',
                status: 400,
                detail: problem,
                errors: [{ path: '', message: problem }],
              },
              { req },
            );
        }
        next();
      });
    const onError = (err: Error & { code?: string; type?: string }) => {
      finish(() => {
        if (err.type === 'entity.too.large') return tooLarge();
        // the client went away mid-body: nobody is left to answer
        if (
          req.socket.destroyed ||
          err.type === 'request.aborted' ||
          err.code === 'ECONNRESET' ||
          err.code === 'ECONNABORTED'
        )
          return void req.socket.destroy();
        const message = `body is not valid ${codings.filter((c) => c !== 'identity').join(', ')} data`;
        refuse(400, 'Bad Request', message, [{ path: '', message }]);
      });
    };
    if (decoders.length > 0) req.on('data', onCompressed);
    // raw-body reads the last stream (the decoded bytes) up to the limit; the earlier streams of a
    // decoding pipeline do not forward their errors, so they are listened to here
    for (const s of new Set([req, ...decoders.slice(0, -1)])) s.on('error', onError);
    getRawBody(stream, { limit }).then(onBody, onError);
  };
}

/** `{type, charset}` of a Content-Type header, lowercased (`type` is '' when absent). */
export function parseContentType(header: string | undefined): { type: string; charset?: string } {
  if (!header) return { type: '' };
  const [type = '', ...params] = header.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() === 'charset')
      charset = p
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase();
  }
  return { type: type.trim().toLowerCase(), ...(charset !== undefined ? { charset } : {}) };
}

/**
 * Field errors for a request target: every path segment and query key/value must percent-decode to
 * well-formed UTF-8 without NUL (`path`, `query.<key>`). The same rule as JSON bodies, so `%00` in an
 * id or filter is a 400 before anything looks it up.
 * @example urlProblems('/v1/runs?agent_id=%00') // [{ path: 'query.agent_id', message: … }]
 */
export function urlProblems(url: string): FieldError[] {
  const errors: FieldError[] = [];
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const pathProblem = componentProblem(path, false);
  if (pathProblem) errors.push({ path: 'path', message: pathProblem });
  if (q >= 0) {
    for (const pair of url.slice(q + 1).split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const rawKey = eq < 0 ? pair : pair.slice(0, eq);
      const keyProblem = componentProblem(rawKey, true);
      const name = keyProblem ? 'query' : `query.${decodeURIComponent(rawKey.replace(/\+/g, ' '))}`;
      if (keyProblem) errors.push({ path: name, message: `a parameter name ${keyProblem}` });
      else if (eq >= 0) {
        const valueProblem = componentProblem(pair.slice(eq + 1), true);
        if (valueProblem) errors.push({ path: name, message: valueProblem });
      }
      if (errors.length >= 20) break;
    }
  }
  return errors;
}

function componentProblem(raw: string, plus: boolean): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(plus ? raw.replace(/\+/g, ' ') : raw);
  } catch {
    return 'must be percent-encoded UTF-8';
  }
  return stringProblem(decoded);
}

function textProblem(body: Buffer): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return 'body is not valid UTF-8';
  }
  return text.includes('\u0000') ? 'body must not contain NUL (U+0000) characters' : undefined;
}

function describe(errors: FieldError[]): string {
  return (
    errors
      .slice(0, 5)
      .map((e) => `${e.path || '(root)'}: ${e.message}`)
      .join('; ') + (errors.length > 5 ? `; and ${errors.length - 5} more` : '')
  );
}
