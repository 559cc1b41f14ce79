import { lookup } from 'node:dns/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';
// argument schemas live in libs/contracts (tools.ts): workers and policy's rewrite checks share them
import { HttpGetArgs as GetArgs, HttpRequestArgs as RequestArgs } from '@warden/contracts';
import { allowedHosts, hostAllowed } from './domain/host-rules';
import { isPrivateAddress } from './ip-address';
import { ToolError, parseArgs, settingsOf, type Tool, type ToolContext } from './domain/tool';

// the SSRF guard lives in ip-address.ts (every IPv6 form that embeds IPv4 is normalised there)
export { isPrivateAddress };

const Output = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
  bytes: z.number().int(),
  truncated: z.boolean(),
  url: z.string(),
});
export type HttpOutput = z.infer<typeof Output>;

const REDIRECTS = 5;
const KEPT_HEADERS = ['content-type', 'content-length', 'location', 'etag', 'last-modified', 'date'];

/** Checks the URL against the allow-list, resolves it, checks every address, returns the one to connect to. */
async function checkedTarget(ctx: ToolContext, url: URL, tool: string): Promise<{ address: string; family: number }> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ToolError('HTTP.SCHEME_REFUSED', `${tool}: only http and https URLs (got ${url.protocol})`);
  }
  if (url.username || url.password) throw new ToolError('HTTP.INVALID_URL', `${tool}: credentials in URLs are refused`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const allowed = allowedHosts(ctx);
  if (!hostAllowed(host, allowed)) {
    throw new ToolError(
      'HTTP.HOST_REFUSED',
      `${tool}: host "${host}" is not in the allow-list (${allowed.length ? allowed.join(', ') : 'empty'})`,
    );
  }
  const s = settingsOf(ctx, tool).http;
  const allowPrivate = s.allowPrivate || ctx.constraints?.http_allow_private === true;
  let addresses: { address: string; family: number }[];
  try {
    addresses = isIP(host)
      ? [{ address: host, family: isIP(host) }]
      : await lookup(host, { all: true, verbatim: true });
  } catch (err) {
    throw new ToolError('HTTP.DNS_FAILED', `${tool}: cannot resolve "${host}": ${(err as NodeJS.ErrnoException).code}`);
  }
  if (addresses.length === 0) throw new ToolError('HTTP.DNS_FAILED', `${tool}: "${host}" has no address`);
  // every address must pass: DNS may answer differently on the next lookup
  const bad = addresses.find((a) => isPrivateAddress(a.address));
  if (bad && !allowPrivate) {
    throw new ToolError('HTTP.PRIVATE_ADDRESS', `${tool}: "${host}" resolves to ${bad.address}, a non-public address`);
  }
  return addresses[0]!;
}

interface Req {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** One request to an already checked address (pinned: no second DNS lookup), with size and time caps. */
function send(req: Req, target: { address: string; family: number }, maxBytes: number, signal: AbortSignal) {
  return new Promise<{
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
    bytes: number;
    truncated: boolean;
  }>((resolve, reject) => {
    const pinned: LookupFunction = (_host, opts, cb) => {
      if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: unknown[]) => void)(null, [target]);
      else cb(null, target.address, target.family);
    };
    const mod = req.url.protocol === 'https:' ? https : http;
    const r = mod.request(
      req.url,
      {
        method: req.method,
        headers: { ...req.headers, 'user-agent': 'warden-worker', connection: 'close' },
        lookup: pinned,
        signal,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let bytes = 0;
        let truncated = false;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (kept >= maxBytes) {
            truncated = true;
            res.destroy();
            return;
          }
          const part = c.subarray(0, maxBytes - kept);
          if (part.length < c.length) truncated = true;
          chunks.push(part);
          kept += part.length;
        });
        const done = () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes, truncated });
        res.on('end', done);
        res.on('close', done);
        res.on('error', (e) => (truncated ? done() : reject(e)));
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Runs a request with the caps and the redirect rule: follow only to the same host, at most 5 times. */
export async function httpCall(
  ctx: ToolContext,
  tool: string,
  req: Req,
  encoding: 'utf8' | 'base64',
): Promise<HttpOutput> {
  const s = settingsOf(ctx, tool).http;
  const timeout = AbortSignal.timeout(s.timeoutMs);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
  let current = req;
  for (let hop = 0; ; hop++) {
    const target = await checkedTarget(ctx, current.url, tool);
    let res;
    try {
      res = await send(current, target, s.maxBytes, signal);
    } catch (err) {
      if (timeout.aborted) throw new ToolError('HTTP.TIMEOUT', `${tool}: no complete answer within ${s.timeoutMs} ms`);
      throw new ToolError('HTTP.FAILED', `${tool}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, current.url);
      if (next.hostname !== current.url.hostname || next.protocol !== current.url.protocol) {
        throw new ToolError('HTTP.REDIRECT_REFUSED', `${tool}: redirect to another host (${next.host}) refused`);
      }
      if (hop >= REDIRECTS) throw new ToolError('HTTP.TOO_MANY_REDIRECTS', `${tool}: more than ${REDIRECTS} redirects`);
      const keepBody = res.status === 307 || res.status === 308;
      current = keepBody ? { ...current, url: next } : { method: 'GET', url: next, headers: current.headers };
      continue;
    }
    const headers: Record<string, string> = {};
    for (const h of KEPT_HEADERS) {
      const v = res.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    return {
      status: res.status,
      headers,
      body: res.body.toString(encoding),
      bytes: res.bytes,
      truncated: res.truncated,
      url: current.url.toString(),
    };
  }
}

function withoutHost(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'host') out[k] = v;
  return out;
}

/** `http.get {url, headers?, encoding?}` → `{status, headers, body, bytes, truncated, url}`. */
export const httpGetTool: Tool = {
  name: 'http.get',
  idempotent: true,
  network: true,
  args: GetArgs,
  result: Output,
  async run(raw, ctx) {
    const a = parseArgs('http.get', GetArgs, raw);
    return httpCall(
      ctx,
      'http.get',
      { method: 'GET', url: new URL(a.url), headers: withoutHost(a.headers) },
      a.encoding,
    );
  },
};

/** `http.request {method, url, headers?, body?, encoding?}`: like `http.get`, any common method; not retried. */
export const httpRequestTool: Tool = {
  name: 'http.request',
  idempotent: false,
  network: true,
  args: RequestArgs,
  result: Output,
  async run(raw, ctx) {
    const a = parseArgs('http.request', RequestArgs, raw);
    return httpCall(
      ctx,
      'http.request',
      { method: a.method, url: new URL(a.url), headers: withoutHost(a.headers), body: a.body },
      a.encoding,
    );
  },
};
