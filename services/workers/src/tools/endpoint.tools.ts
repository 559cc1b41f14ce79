import * as http from 'node:http';
import * as https from 'node:https';
import { z } from 'zod';
import {
  DeployArgs,
  DeployCanaryArgs,
  GitRefName,
  PrCloseArgs,
  PrOpenArgs as PrArgs,
  deployTargetOk,
} from '@warden/contracts';
import { git } from './git.tools';
import { ToolError, parseArgs, settingsOf, type Tool, type ToolContext } from './domain/tool';

const Output = z.object({ status: z.number().int(), response: z.unknown() });

/** Most bytes of an endpoint's answer kept. */
const MAX_ANSWER = 64 * 1024;

/**
 * POSTs JSON to a configured endpoint (trusted configuration: no host checks, no redirects). Uses
 * node:http(s), not fetch: undici's WebAssembly parser cannot reserve its memory under the sandbox's
 * address-space limit (prlimit --as), so fetch fails in every sandbox.
 */
async function post(ctx: ToolContext, tool: string, url: string, body: unknown): Promise<z.infer<typeof Output>> {
  const s = settingsOf(ctx, tool).endpoints;
  const timeout = AbortSignal.timeout(s.timeoutMs);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
  const payload = Buffer.from(JSON.stringify(body));
  let answer: { status: number; text: string };
  try {
    answer = await new Promise((resolve, reject) => {
      const target = new URL(url);
      const req = (target.protocol === 'https:' ? https : http).request(
        target,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': payload.length,
            ...(s.token ? { authorization: `Bearer ${s.token}` } : {}),
          },
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_ANSWER) chunks.push(c);
            size += c.length;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).subarray(0, MAX_ANSWER).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  } catch (err) {
    if (timeout.aborted) throw new ToolError('ENDPOINT.TIMEOUT', `${tool}: no answer within ${s.timeoutMs} ms`);
    throw new ToolError('ENDPOINT.FAILED', `${tool}: ${(err as Error).message}`);
  }
  let response: unknown = answer.text;
  try {
    response = JSON.parse(answer.text);
  } catch {
    // not JSON: keep the text
  }
  // 3xx included: redirects are not followed
  if (answer.status < 200 || answer.status > 299)
    throw new ToolError('ENDPOINT.FAILED', `${tool}: endpoint answered ${answer.status}: ${answer.text.slice(0, 500)}`);
  return { status: answer.status, response };
}

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

const Pushed = z.object({ remote: z.string(), branch: z.string(), commit: z.string() });

/**
 * Pushes the workspace's HEAD to a new branch `head` on a configured remote, for
 * `pr.open {push_head: true}`: only if no branch of that name exists there (`PR.HEAD_EXISTS`), so
 * it never moves anybody's branch.
 */
async function pushHead(ctx: ToolContext, remote: string, head: string): Promise<z.infer<typeof Pushed>> {
  const branch = GitRefName.safeParse(head);
  if (!branch.success)
    throw new ToolError('TOOL.INVALID_ARGS', `pr.open: args.head: ${branch.error.issues[0]!.message}`);
  const url = settingsOf(ctx, 'pr.open').git.remotes[remote];
  if (!url)
    throw new ToolError('GIT.REMOTE_REFUSED', `pr.open: remote "${remote}" is not configured (WORKER_GIT_REMOTES)`);
  const commit = (await git(ctx, ['rev-parse', '--verify', 'HEAD^{commit}'], 'pr.open')).stdout.trim();
  const ref = `refs/heads/${branch.data}`;
  try {
    // a lease with an empty expected value: the push happens only if the branch does not exist yet
    await git(ctx, ['push', '--no-verify', `--force-with-lease=${ref}:`, url, `${commit}:${ref}`], 'pr.open');
  } catch (err) {
    if (err instanceof ToolError && /stale info|already exists/.test(err.message)) {
      throw new ToolError(
        'PR.HEAD_EXISTS',
        `pr.open: branch "${branch.data}" already exists on "${remote}"; not pushed`,
      );
    }
    throw err;
  }
  return { remote, branch: branch.data, commit };
}

/**
 * `pr.open {title, body?, head, base?, draft?, push_head?, remote?}` → `{status, response, number?,
 * id?, url?, pushed?}`, POSTed to `WORKER_PR_ENDPOINT`. With `push_head: true` the workspace's HEAD is
 * first pushed to the new branch `head` on `remote` (default `origin`, from `WORKER_GIT_REMOTES`), and
 * `pushed: {remote, branch, commit}` says what was pushed.
 */
export const prOpenTool: Tool = {
  name: 'pr.open',
  idempotent: false,
  network: true,
  // push_head runs git: a sandbox of its own, whose process group is killed after
  spawns: true,
  args: PrArgs,
  result: Output.extend(PrRef).extend({ pushed: Pushed.optional() }),
  async run(raw, ctx) {
    const { push_head: pushHeadFirst, remote = 'origin', ...a } = parseArgs('pr.open', PrArgs, raw);
    const url = settingsOf(ctx, 'pr.open').endpoints.pr;
    if (!url) throw new ToolError('TOOL.NOT_CONFIGURED', 'pr.open: set WORKER_PR_ENDPOINT');
    const pushed = pushHeadFirst ? await pushHead(ctx, remote, a.head) : undefined;
    const r = await post(ctx, 'pr.open', url, pushed ? { ...a, head_sha: pushed.commit } : a);
    return { ...r, ...prRef(r.response), ...(pushed ? { pushed } : {}) };
  },
};

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

/**
 * `deploy.canary {ref, percent, service?, params?}` → `{status, response}`: POSTs
 * `{target: "canary", ref, percent, service?, params}` to the `canary` endpoint of
 * `WORKER_DEPLOY_ENDPOINTS`, else to the `production` one (a canary is a production deploy that
 * starts with `percent` % of the traffic). What the `canary` recipe makes of `deploy.production`.
 */
export const deployCanaryTool: Tool = {
  name: 'deploy.canary',
  idempotent: false,
  network: true,
  args: DeployCanaryArgs,
  result: Output,
  async run(raw, ctx) {
    const a = parseArgs('deploy.canary', DeployCanaryArgs, raw);
    const endpoints = settingsOf(ctx, 'deploy.canary').endpoints.deploy;
    const url = endpoints.canary ?? endpoints.production;
    if (!url) {
      throw new ToolError(
        'TOOL.NOT_CONFIGURED',
        'deploy.canary: no endpoint for "canary" or "production" in WORKER_DEPLOY_ENDPOINTS',
      );
    }
    return post(ctx, 'deploy.canary', url, { target: 'canary', ...a });
  },
};

/** Deploy targets are subject-safe names. */
export const endpointNameOk = deployTargetOk;
