import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { WardenNetworkError } from './errors';
import { problemOf, type HttpOptions } from './http';

/**
 * One Server-Sent Event of a run stream (`event`, `ignored`, `run` or `end`; `data` parsed from JSON).
 * @example if (m.event === 'end') console.log((m.data as RunSnapshot).status)
 */
export interface StreamMessage {
  event: string;
  id?: string;
  data: unknown;
}

/**
 * Follows `GET /v1/runs/:id/stream` until the server sends `end` (or the caller stops iterating),
 * reconnecting with `Last-Event-ID` when the connection drops or the server ends a long stream, so no
 * event is missed or repeated. Problems (404 another agent's run, 401) throw typed errors at once.
 * @example for await (const m of followRun(http, url)) if (m.event === 'end') break
 */
export async function* followRun(http: HttpOptions, url: string, signal?: AbortSignal): AsyncGenerator<StreamMessage> {
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    const queue: StreamMessage[] = [];
    const parser = createParser({
      onEvent: (m: EventSourceMessage) => {
        queue.push({ event: m.event ?? 'message', ...(m.id ? { id: m.id } : {}), data: JSON.parse(m.data) as unknown });
      },
    });
    // one connection's lifetime: aborted when the caller stops iterating, so the socket never lingers
    const conn = new AbortController();
    let res: Response;
    try {
      res = await http.fetch(url, {
        headers: {
          authorization: `Bearer ${http.apiKey}`,
          accept: 'text/event-stream',
          'user-agent': http.userAgent,
          ...(lastId ? { 'last-event-id': lastId } : {}),
        },
        signal: signal ? AbortSignal.any([signal, conn.signal]) : conn.signal,
      });
    } catch (err) {
      if (signal?.aborted) return;
      if (++failures >= http.retry.attempts)
        throw new WardenNetworkError(`run stream ${url} unreachable: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, Math.min(http.retry.maxDelayMs, http.retry.baseDelayMs * 2 ** failures)));
      continue;
    }
    if (!res.ok) {
      const problem = await problemOf(res);
      if ((res.status >= 500 || res.status === 429) && ++failures < http.retry.attempts) {
        await new Promise((r) =>
          setTimeout(r, Math.min(http.retry.maxDelayMs, http.retry.baseDelayMs * 2 ** failures)),
        );
        continue;
      }
      throw problem;
    }
    failures = 0;
    let ended = false;
    try {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        while (queue.length) {
          const m = queue.shift()!;
          if (m.id) lastId = m.id;
          yield m;
          if (m.event === 'end') ended = true;
        }
        if (ended) return;
      }
    } catch (err) {
      if (signal?.aborted) return;
      // the connection broke mid-stream: reconnect after the last event seen
      if (++failures >= http.retry.attempts)
        throw new WardenNetworkError(`run stream ${url} broke: ${(err as Error).message}`, { cause: err });
    } finally {
      conn.abort();
    }
  }
}
