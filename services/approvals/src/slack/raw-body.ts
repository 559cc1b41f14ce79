import type { Request } from 'express';
import type { RawBodyRequest } from '@warden/runtime';
import { DomainError } from '@warden/kernel';

/**
 * The request body exactly as sent (signatures are over the raw bytes), as the input gate read it:
 * size-limited, content-encoding undone, UTF-8 without NUL for Slack's form bodies.
 */
export function readRawBody(req: Request, limit = 1024 * 1024): Promise<Buffer> {
  const raw = (req as Request & RawBodyRequest).rawBody ?? Buffer.alloc(0);
  if (raw.length > limit) return Promise.reject(new DomainError('SLACK.TOO_LARGE', `body exceeds ${limit} bytes`));
  return Promise.resolve(raw);
}
