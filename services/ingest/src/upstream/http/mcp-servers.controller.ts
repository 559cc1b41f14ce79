import { Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { McpServerName } from '@warden/contracts';
import { DomainError } from '@warden/kernel';
import { Auth, BEARER_SECURITY, jsonResponse, pathParam, problemResponse, type AuthedRequest } from '@warden/runtime';
import { KvUpstreamCatalog, type UpstreamServerStatus } from '../kv-upstream-catalog';

/**
 * Upstream MCP servers for admins: every catalogued tool with its pin status (`GET /v1/mcp/tools`),
 * and the re-pin that accepts a server's current definitions (`POST /v1/mcp/servers/:name/pin`).
 */
@Controller('v1/mcp')
@Auth('admin')
export class McpServersController {
  constructor(@Inject(KvUpstreamCatalog) private readonly catalog: KvUpstreamCatalog) {}

  @Get('tools')
  tools(): { servers: UpstreamServerStatus[] } {
    return { servers: this.catalog.servers() };
  }

  @Post('servers/:name/pin')
  @HttpCode(200)
  pin(@Param('name') name: string, @Req() req: AuthedRequest): Promise<UpstreamServerStatus> {
    if (!McpServerName.safeParse(name).success)
      throw new DomainError('MCP.SERVER_NOT_FOUND', `no worker has catalogued an MCP server "${name.slice(0, 64)}"`);
    const p = req.principal!;
    return this.catalog.pin(name, `${p.kind}:${p.name}`);
  }
}

const ToolStatus = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    status: { enum: ['pinned', 'changed', 'unpinned'] },
    digest: { type: 'string' },
    pinned_digest: { type: ['string', 'null'] },
    title: { type: 'string' },
    description: { type: 'string' },
    annotations: { type: 'object' },
  },
};
const ServerStatus = {
  type: 'object',
  properties: {
    server: { type: 'string' },
    role: { type: 'string' },
    transport: { enum: ['stdio', 'http'] },
    published_at: { type: 'string', format: 'date-time' },
    worker_id: { type: 'string' },
    pinned_at: { type: ['string', 'null'], format: 'date-time' },
    pinned_by: { type: ['string', 'null'] },
    changed: { type: 'integer' },
    tools: { type: 'array', items: ToolStatus },
    removed: { type: 'array', items: { type: 'string' } },
  },
};
/** The OpenAPI paths of {@link McpServersController} (merged into ingest's document). */
export const MCP_SERVERS_OPENAPI_PATHS = {
  '/v1/mcp/tools': {
    get: {
      summary: "Upstream MCP servers' tools with their pin status (admin)",
      security: BEARER_SECURITY,
      responses: {
        '200': jsonResponse('Every catalogued server', {
          type: 'object',
          properties: { servers: { type: 'array', items: ServerStatus } },
        }),
        '401': problemResponse(401),
        '403': problemResponse(403, 'Not an admin'),
      },
    },
  },
  '/v1/mcp/servers/{name}/pin': {
    post: {
      summary: "Pin a server's tools as they are defined now (admin): changed definitions are accepted again",
      security: BEARER_SECURITY,
      parameters: [pathParam('name', { type: 'string', pattern: '^[a-z][a-z0-9_]*$' })],
      responses: {
        '200': jsonResponse('The server, pinned', ServerStatus),
        '401': problemResponse(401),
        '403': problemResponse(403, 'Not an admin'),
        '404': problemResponse(404, 'No worker has catalogued that server'),
      },
    },
  },
} as const;
