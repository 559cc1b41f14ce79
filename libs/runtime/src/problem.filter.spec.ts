import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadRequestException } from '@nestjs/common';
import { DomainError, ValidationError } from '@warden/kernel';
import { problemForException, sendProblem, statusForCode, writeProblem } from './problem.filter';

/** Answers one request with `handle`, and returns what a client saw. */
async function roundTrip(handle: (res: ServerResponse) => void) {
  const server = createServer((_req, res) => handle(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('problem+json at the edge', () => {
  it('maps each stable code to its status once, including those handlers write themselves', () => {
    expect(
      Object.fromEntries(
        [
          'VALIDATION.FAILED',
          'AUTH.UNAUTHENTICATED',
          'WEBHOOK.UNAUTHENTICATED',
          'AUTH.FORBIDDEN',
          'KEY.AGENT_MISMATCH',
          'MCP.KEY_NOT_BOUND',
          'RUN.NOT_FOUND',
          'APPROVAL.ALREADY_DECIDED',
          'SUBMISSION.RUN_ID_CONFLICT',
          'SUBMISSION.TOO_LARGE',
          'INGEST.UNSUPPORTED_MEDIA_TYPE',
          'INGEST.RATE_LIMITED',
          'INGEST.NO_RAW_BODY',
          'INGEST.UNAVAILABLE',
          'POLICY.UNSUPPORTED_MEDIA',
          'TOOL.NOT_IN_ROLE',
        ].map((c) => [c, statusForCode(c)]),
      ),
    ).toEqual({
      'VALIDATION.FAILED': 400,
      'AUTH.UNAUTHENTICATED': 401,
      'WEBHOOK.UNAUTHENTICATED': 401,
      'AUTH.FORBIDDEN': 403,
      'KEY.AGENT_MISMATCH': 403,
      'MCP.KEY_NOT_BOUND': 403,
      'RUN.NOT_FOUND': 404,
      'APPROVAL.ALREADY_DECIDED': 409,
      'SUBMISSION.RUN_ID_CONFLICT': 409,
      'SUBMISSION.TOO_LARGE': 413,
      'INGEST.UNSUPPORTED_MEDIA_TYPE': 415,
      'INGEST.RATE_LIMITED': 429,
      'INGEST.NO_RAW_BODY': 500,
      'INGEST.UNAVAILABLE': 503,
      'POLICY.UNSUPPORTED_MEDIA': 422,
      'TOOL.NOT_IN_ROLE': 422,
    });
  });

  it('writes a code problem with its status, field errors and Retry-After', async () => {
    const r = await roundTrip((res) =>
      sendProblem(res, 'INGEST.RATE_LIMITED', 'this API key is over its rate limit', {
        retryAfterSeconds: 3,
        errors: [{ path: 'agent.id', message: 'x' }],
      }),
    );
    expect(r.status).toBe(429);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(r.headers.get('retry-after')).toBe('3');
    expect(r.body).toEqual({
      type: 'urn:warden:error:INGEST.RATE_LIMITED',
      title: 'INGEST.RATE_LIMITED',
      status: 429,
      detail: 'this API key is over its rate limit',
      errors: [{ path: 'agent.id', message: 'x' }],
    });
  });

  it('writes a plain about:blank problem without the fields it lacks', async () => {
    const r = await roundTrip((res) => writeProblem(res, { type: 'about:blank', title: 'Not Found', status: 404 }));
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ type: 'about:blank', title: 'Not Found', status: 404 });
  });

  it('turns thrown errors into the same problems the filter always wrote', () => {
    expect(problemForException(new ValidationError([{ path: 'limit', message: 'too big' }])).problem).toEqual({
      type: 'urn:warden:error:VALIDATION.FAILED',
      title: 'VALIDATION.FAILED',
      status: 400,
      detail: expect.any(String),
      errors: [{ path: 'limit', message: 'too big' }],
    });
    expect(problemForException(new DomainError('RUN.NOT_FOUND', 'no such run', { retryAfterSeconds: 2 }))).toEqual({
      problem: { type: 'urn:warden:error:RUN.NOT_FOUND', title: 'RUN.NOT_FOUND', status: 404, detail: 'no such run' },
      retryAfterSeconds: 2,
    });
    expect(problemForException(new BadRequestException(['a', 'b'])).problem).toEqual({
      type: 'about:blank',
      title: 'BadRequest',
      status: 400,
      detail: 'a; b',
    });
    expect(problemForException({ type: 'entity.too.large' }).problem.status).toBe(413);
    expect(problemForException(new Error('secret internals')).problem).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
    });
  });
});
