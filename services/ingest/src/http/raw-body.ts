import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_SUBMISSION_BYTES } from '@warden/contracts';

/** A request whose body was read as bytes by {@link rawBodyMiddleware}. */
export interface RawBodyRequest extends IncomingMessage {
  rawBody?: Buffer;
}

/** POST routes whose handlers need the exact bytes: submissions (size, UTF-8) and webhooks (signatures). */
export const RAW_BODY_ROUTES: readonly RegExp[] = [/^\/v1\/tasks\/?$/, /^\/v1\/webhooks\/(?!sources\/?$)[^/]+\/?$/];

type Next = (err?: unknown) => void;

/**
 * Express middleware that reads the body of {@link RAW_BODY_ROUTES} into `req.rawBody`, counting bytes
 * as they arrive: over `limit` it answers 413 at once and closes the connection, so an oversized body
 * is never buffered (a `Content-Length` over the limit is refused before reading a byte). It must run
 * before the JSON body parser; that parser then skips the request (its body is already consumed).
 */
export function rawBodyMiddleware(limit = MAX_SUBMISSION_BYTES, routes: readonly RegExp[] = RAW_BODY_ROUTES) {
  return (req: RawBodyRequest, res: ServerResponse, next: Next): void => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (req.method !== 'POST' || !routes.some((re) => re.test(path))) return next();
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      return problem(req, res, 415, 'Unsupported Media Type', `content-encoding ${encoding} is not accepted`);
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return tooLarge(req, res, limit);
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        done = true;
        cleanup();
        req.pause();
        chunks.length = 0;
        tooLarge(req, res, limit);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (done) return;
      done = true;
      cleanup();
      req.rawBody = Buffer.concat(chunks, total);
      next();
    };
    const onError = () => {
      // the client went away mid-body: nobody is left to answer
      if (done) return;
      done = true;
      cleanup();
      req.socket.destroy();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  };
}

function tooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
  problem(req, res, 413, 'Payload Too Large', `body exceeds ${limit} bytes (256 KiB)`, [
    { path: '', message: `body exceeds the limit of ${limit} bytes` },
  ]);
}

/** Answers with problem+json and closes the connection: the rest of the body is never read. */
function problem(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  title: string,
  detail: string,
  errors?: { path: string; message: string }[],
): void {
  const body = JSON.stringify({ type: 'about:blank', title, status, detail, ...(errors ? { errors } : {}) });
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/problem+json');
  res.setHeader('Connection', 'close');
  res.end(body, () => req.socket.destroy());
}
