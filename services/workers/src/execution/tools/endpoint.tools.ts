import { z } from 'zod';
import { ToolError, parseArgs, settingsOf, type Tool, type ToolContext } from './tool';

const Output = z.object({ status: z.number().int(), response: z.unknown() });

/** POSTs JSON to a configured endpoint (trusted configuration: no host checks, no redirects). */
async function post(ctx: ToolContext, tool: string, url: string, body: unknown): Promise<z.infer<typeof Output>> {
  const s = settingsOf(ctx, tool).endpoints;
  const timeout = AbortSignal.timeout(s.timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(s.token ? { authorization: `Bearer ${s.token}` } : {}),
      },
      body: JSON.stringify(body),
      redirect: 'error',
      signal: ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout,
    });
  } catch (err) {
    if (timeout.aborted) throw new ToolError('ENDPOINT.TIMEOUT', `${tool}: no answer within ${s.timeoutMs} ms`);
    throw new ToolError('ENDPOINT.FAILED', `${tool}: ${(err as Error).message}`);
  }
  const text = (await res.text()).slice(0, 64 * 1024);
  let response: unknown = text;
  try {
    response = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  if (!res.ok)
    throw new ToolError('ENDPOINT.FAILED', `${tool}: endpoint answered ${res.status}: ${text.slice(0, 500)}`);
  return { status: res.status, response };
}

const PrArgs = z.strictObject({
  title: z.string().min(1).max(300),
  body: z.string().max(65_536).default(''),
  head: z.string().min(1).max(200),
  base: z.string().min(1).max(200).default('main'),
  draft: z.boolean().default(false),
});

const PrRef = { number: z.number().int().positive().optional(), id: z.string().optional(), url: z.string().optional() };

/** The PR's number / id / url from the endpoint's answer, lifted to the top of the output (reviews need them). */
function prRef(response: unknown): { number?: number; id?: string; url?: string } {
  if (!response || typeof response !== 'object') return {};
  const r = response as Record<string, unknown>;
  return {
    ...(typeof r.number === 'number' && Number.isInteger(r.number) && r.number > 0 ? { number: r.number } : {}),
    ...(typeof r.id === 'string' || typeof r.id === 'number' ? { id: String(r.id) } : {}),
    ...(typeof r.url === 'string' ? { url: r.url } : typeof r.html_url === 'string' ? { url: r.html_url } : {}),
  };
}

/**
 * `pr.open {title, body?, head, base?, draft?}` → `{status, response, number?, id?, url?}`, POSTed to
 * `WORKER_PR_ENDPOINT`.
 */
export const prOpenTool: Tool = {
  name: 'pr.open',
  idempotent: false,
  network: true,
  args: PrArgs,
  result: Output.extend(PrRef),
  async run(raw, ctx) {
    const a = parseArgs('pr.open', PrArgs, raw);
    const url = settingsOf(ctx, 'pr.open').endpoints.pr;
    if (!url) throw new ToolError('TOOL.NOT_CONFIGURED', 'pr.open: set WORKER_PR_ENDPOINT');
    const r = await post(ctx, 'pr.open', url, a);
    return { ...r, ...prRef(r.response) };
  },
};

const PrCloseArgs = z
  .strictObject({ ...PrRef, comment: z.string().max(65_536).optional() })
  .refine((a) => a.number !== undefined || a.id !== undefined || a.url !== undefined, {
    message: 'name the pull request: number, id or url',
  });

/**
 * `pr.close {number | id | url, comment?}` → `{status, response}`, POSTed to `WORKER_PR_CLOSE_ENDPOINT`
 * (the compensation for a flagged `pr.open`).
 */
export const prCloseTool: Tool = {
  name: 'pr.close',
  idempotent: true,
  network: true,
  args: PrCloseArgs,
  result: Output,
  async run(raw, ctx) {
    const a = parseArgs('pr.close', PrCloseArgs, raw);
    const url = settingsOf(ctx, 'pr.close').endpoints.prClose;
    if (!url) throw new ToolError('TOOL.NOT_CONFIGURED', 'pr.close: set WORKER_PR_CLOSE_ENDPOINT');
    return post(ctx, 'pr.close', url, a);
  },
};

const DeployArgs = z.strictObject({
  ref: z.string().min(1).max(200),
  service: z.string().min(1).max(200).optional(),
  params: z.record(z.string(), z.json()).default({}),
});

/** `deploy.<target> {ref, service?, params?}` → `{status, response}`, POSTed to the target's endpoint. */
export function deployTool(target: string): Tool {
  const name = `deploy.${target}`;
  return {
    name,
    idempotent: false,
    network: true,
    args: DeployArgs,
    result: Output,
    async run(raw, ctx) {
      const a = parseArgs(name, DeployArgs, raw);
      const url = settingsOf(ctx, name).endpoints.deploy[target];
      if (!url)
        throw new ToolError('TOOL.NOT_CONFIGURED', `${name}: no endpoint for "${target}" in WORKER_DEPLOY_ENDPOINTS`);
      return post(ctx, name, url, { target, ...a });
    },
  };
}

/** Deploy targets are subject-safe names. */
export function endpointNameOk(target: string): boolean {
  return /^[a-z][a-z0-9_-]{0,62}$/.test(target);
}
