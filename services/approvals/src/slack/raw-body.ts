import type { Request } from 'express';
import { DomainError } from '@warden/kernel';

/**
 * The request body exactly as sent (signatures are over the raw bytes). The app's JSON parser only
 * touches `application/json`; Slack posts `application/x-www-form-urlencoded`, which arrives here unread.
 */
export async function readRawBody(req: Request, limit = 1024 * 1024): Promise<Buffer> {
  if (req.readableEnded || (req as { _body?: boolean })._body)
    throw new DomainError(
      'SLACK.BODY_CONSUMED',
      'body was already parsed; Slack sends application/x-www-form-urlencoded',
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > limit) throw new DomainError('SLACK.TOO_LARGE', `body exceeds ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
