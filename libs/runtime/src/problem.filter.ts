import type { IncomingMessage, ServerResponse } from 'node:http';
import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { throwError, type Observable } from 'rxjs';
import type { FieldError } from '@warden/contracts';
import { DomainError, ValidationError } from '@warden/kernel';

/** Stable domain error codes → HTTP status, mapped once here at the edge. */
const STATUS_BY_CODE_PREFIX: [RegExp, number][] = [
  [/^VALIDATION\./, 400],
  [/\.NOT_FOUND$/, 404],
  [/\.UNAUTHENTICATED$/, 401],
  [/^AUTH\.FORBIDDEN$/, 403],
  [/^KEY\.AGENT_MISMATCH$/, 403],
  [/^MCP\.KEY_NOT_BOUND$/, 403],
  // bring your own executor: a report on a forged grant, by an unbound key; for another action; too late
  [/^(GRANT\.BAD_SIGNATURE|KEY\.NOT_BOUND)$/, 403],
  [/^GRANT\.ACTION_MISMATCH$/, 409],
  [/^GRANT\.EXPIRED$/, 410],
  [/\.(ALREADY_|CONFLICT)|_CONFLICT$/, 409],
  [/\.TOO_LARGE$/, 413],
  [/^INGEST\.UNSUPPORTED_MEDIA_TYPE$/, 415],
  [/\.RATE_LIMITED$/, 429],
  [/\.NO_RAW_BODY$/, 500],
  [/\.UNAVAILABLE$/, 503],
];

/** Maps a domain error code to its HTTP status (422 for any other domain refusal). */
export function statusForCode(code: string): number {
  return STATUS_BY_CODE_PREFIX.find(([re]) => re.test(code))?.[1] ?? 422;
}

/** An RFC 9457 problem as Warden writes it: `type` is `urn:warden:error:<CODE>` or `about:blank`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

/**
 * The problem for a stable error code: its status from {@link statusForCode}, `title` the code.
 * @example problemForCode('RUN.NOT_FOUND', 'no such run') // { type: 'urn:warden:error:RUN.NOT_FOUND', title: 'RUN.NOT_FOUND', status: 404, detail: 'no such run' }
 */
export function problemForCode(code: string, detail: string, errors?: FieldError[]): Problem {
  return {
    type: `urn:warden:error:${code}`,
    title: code,
    status: statusForCode(code),
    detail,
    ...(errors ? { errors } : {}),
  };
}

/**
 * The one writer of `application/problem+json`, for Nest's filter and for handlers and middleware that
 * own the response (plain Node or express). `retryAfterSeconds` sets `Retry-After`. With `close`, the
 * connection is closed after the answer: the rest of the body was never read, and must not be taken
 * for the next request. A response already started cannot carry a problem: the connection is closed.
 * @example writeProblem(res, problemForCode('INGEST.RATE_LIMITED', 'over the rate limit'), { retryAfterSeconds: 2 })
 */
export function writeProblem(
  res: ServerResponse,
  problem: Problem,
  opts: { retryAfterSeconds?: number; close?: boolean; req?: IncomingMessage } = {},
): void {
  const socket = opts.req?.socket ?? res.socket;
  if (res.headersSent) return void socket?.destroy();
  const { type, title, status, detail, errors } = problem;
  const body = JSON.stringify({
    type,
    title,
    status,
    ...(detail !== undefined ? { detail } : {}),
    ...(errors ? { errors } : {}),
  });
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (opts.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(opts.retryAfterSeconds));
  if (!opts.close) return void res.end(body);
  res.setHeader('Connection', 'close');
  res.end(body, () => socket?.destroy());
}

/**
 * Writes the problem for a stable error code (status mapped by {@link statusForCode}) from a handler
 * that owns `res` — what the {@link ProblemFilter} writes for a thrown {@link DomainError}.
 * @example return sendProblem(res, 'WEBHOOK.UNAUTHENTICATED', 'bad signature')
 */
export function sendProblem(
  res: ServerResponse,
  code: string,
  detail: string,
  opts: { errors?: FieldError[]; retryAfterSeconds?: number } = {},
): void {
  writeProblem(res, problemForCode(code, detail, opts.errors), { retryAfterSeconds: opts.retryAfterSeconds });
}

/** The problem (and `Retry-After`, if any) for anything a handler threw. */
export function problemForException(exception: unknown): { problem: Problem; retryAfterSeconds?: number } {
  if (exception instanceof DomainError) {
    const errors =
      exception instanceof ValidationError
        ? exception.errors
        : Array.isArray(exception.details.errors)
          ? (exception.details.errors as FieldError[])
          : undefined;
    const retry = exception.details.retryAfterSeconds;
    return {
      problem: problemForCode(exception.code, exception.message, errors),
      ...(typeof retry === 'number' ? { retryAfterSeconds: retry } : {}),
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const r = exception.getResponse();
    const detail = typeof r === 'string' ? r : ((r as { message?: unknown }).message ?? exception.message);
    return {
      problem: {
        type: 'about:blank',
        title: status === 413 ? 'Payload Too Large' : exception.name.replace(/Exception$/, ''),
        status,
        detail: Array.isArray(detail) ? detail.join('; ') : String(detail),
      },
    };
  }
  const type = (exception as { type?: string } | null)?.type;
  if (type === 'entity.too.large')
    return {
      problem: { type: 'about:blank', title: 'Payload Too Large', status: 413, detail: 'body exceeds the size limit' },
    };
  if (type === 'entity.parse.failed')
    return {
      problem: {
        type: 'about:blank',
        title: 'Bad Request',
        status: 400,
        detail: 'body is not valid JSON',
        errors: [{ path: '', message: 'invalid JSON' }],
      },
    };
  return { problem: { type: 'about:blank', title: 'Internal Server Error', status: 500 } };
}

/** Every HTTP error leaves as RFC 9457 `application/problem+json`; bus errors pass through unchanged. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    // bus handlers: hand the original error to the transport, which tells permanent from transient
    if (host.getType() !== 'http') return throwError(() => exception);
    const { problem, retryAfterSeconds } = problemForException(exception);
    writeProblem(host.switchToHttp().getResponse<Response>(), problem, { retryAfterSeconds });
  }
}
