import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { throwError, type Observable } from 'rxjs';
import { DomainError, ValidationError } from '@warden/kernel';

/** Stable domain error codes → HTTP status, mapped once here at the edge. */
const STATUS_BY_CODE_PREFIX: [RegExp, number][] = [
  [/^VALIDATION\./, 400],
  [/\.NOT_FOUND$/, 404],
  [/^AUTH\.UNAUTHENTICATED$/, 401],
  [/^AUTH\.FORBIDDEN$/, 403],
  [/^KEY\.AGENT_MISMATCH$/, 403],
  [/\.(ALREADY_|CONFLICT)/, 409],
  [/\.TOO_LARGE$/, 413],
  [/\.RATE_LIMITED$/, 429],
];

/** Maps a domain error code to its HTTP status (422 for any other domain refusal). */
export function statusForCode(code: string): number {
  return STATUS_BY_CODE_PREFIX.find(([re]) => re.test(code))?.[1] ?? 422;
}

/** Every HTTP error leaves as RFC 9457 `application/problem+json`; bus errors pass through unchanged. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    // bus handlers: hand the original error to the transport, which tells permanent from transient
    if (host.getType() !== 'http') return throwError(() => exception);
    const res = host.switchToHttp().getResponse<Response>();
    let status = 500;
    let body: Record<string, unknown> = { type: 'about:blank', title: 'Internal Server Error' };
    if (exception instanceof DomainError) {
      status = statusForCode(exception.code);
      body = { type: `urn:warden:error:${exception.code}`, title: exception.code, detail: exception.message };
      if (exception instanceof ValidationError) body.errors = exception.errors;
      else if (Array.isArray(exception.details.errors)) body.errors = exception.details.errors;
      if (typeof exception.details.retryAfterSeconds === 'number')
        res.setHeader('Retry-After', String(exception.details.retryAfterSeconds));
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      const r = exception.getResponse();
      const detail = typeof r === 'string' ? r : ((r as { message?: unknown }).message ?? exception.message);
      body = {
        type: 'about:blank',
        title: exception.name.replace(/Exception$/, ''),
        detail: Array.isArray(detail) ? detail.join('; ') : String(detail),
      };
      if (status === 413) body.title = 'Payload Too Large';
    } else if ((exception as { type?: string })?.type === 'entity.too.large') {
      status = 413;
      body = { type: 'about:blank', title: 'Payload Too Large', detail: 'body exceeds the size limit' };
    } else if ((exception as { type?: string })?.type === 'entity.parse.failed') {
      status = 400;
      body = {
        type: 'about:blank',
        title: 'Bad Request',
        detail: 'body is not valid JSON',
        errors: [{ path: '', message: 'invalid JSON' }],
      };
    }
    res
      .status(status)
      .type('application/problem+json')
      .send(JSON.stringify({ ...body, status }));
  }
}
