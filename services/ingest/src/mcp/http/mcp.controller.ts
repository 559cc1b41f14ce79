import { Controller, Delete, Get, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { IdentityDirectory, sendProblem, type RawBodyRequest } from '@warden/runtime';
import { bearerToken } from '@warden/identity';
import { RateLimiter } from '../../api/rate-limiter';
import { KeysService } from '../../keys/keys.service';
import { ingestMetrics } from '../../submission/submission.metrics';
import { McpGateway } from '../mcp-gateway.service';

/**
 * `/mcp` (contract §7): POST (messages), GET (the server's stream), DELETE (end the session). The API
 * key is checked here, before any MCP message is read: 401 without a valid key, 403 for a key that is
 * not bound to one agent (the agent is who every call speaks for). Bodies passed the input gate.
 */
@Controller('mcp')
export class McpController {
  constructor(
    @Inject(IdentityDirectory) private readonly directory: IdentityDirectory,
    @Inject(McpGateway) private readonly gateway: McpGateway,
    @Inject(RateLimiter) private readonly limiter: RateLimiter,
    @Inject(KeysService) private readonly keys: KeysService,
  ) {}

  @Post()
  post(@Req() req: Request & RawBodyRequest, @Res() res: Response): Promise<void> {
    return this.serve(req, res);
  }

  @Get()
  get(@Req() req: Request & RawBodyRequest, @Res() res: Response): Promise<void> {
    return this.serve(req, res);
  }

  @Delete()
  delete(@Req() req: Request & RawBodyRequest, @Res() res: Response): Promise<void> {
    return this.serve(req, res);
  }

  private async serve(req: Request & RawBodyRequest, res: Response): Promise<void> {
    const token = bearerToken(req.headers.authorization);
    const principal = token ? this.directory.authenticate(token) : undefined;
    if (!principal) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="warden-mcp"');
      return sendProblem(
        res,
        'AUTH.UNAUTHENTICATED',
        'a valid API key is required: send Authorization: Bearer wk_… (an API key bound to an agent)',
      );
    }
    const agent = principal.kind === 'api_key' ? principal.binding?.agent : undefined;
    if (!agent)
      return sendProblem(
        res,
        'MCP.KEY_NOT_BOUND',
        principal.kind === 'api_key'
          ? 'MCP keys must be bound to one agent: every tool call speaks for it. Create one with ' +
              '`npx warden keys create --name n --owner o --agent <id> --role <role>` (POST /v1/keys with "agent").'
          : 'only API keys bound to an agent may use /mcp; operator tokens cannot propose tool calls',
      );
    this.keys.touch(principal.id);
    if (req.method === 'POST') {
      const rate = await this.limiter.take(principal.id);
      if (!rate.allowed) {
        ingestMetrics.rateLimited.inc();
        return sendProblem(res, 'INGEST.RATE_LIMITED', 'this API key is over its rate limit', {
          retryAfterSeconds: rate.retryAfterSeconds,
        });
      }
    }
    await this.gateway.handle(req, res, principal, agent);
  }
}
