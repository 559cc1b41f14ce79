import { BEARER_SECURITY, headerParam, jsonBody, problemResponses } from '@warden/runtime';

const session = headerParam('Mcp-Session-Id', { type: 'string', format: 'uuid' });
const version = headerParam('MCP-Protocol-Version', { type: 'string', examples: ['2025-06-18', '2025-11-25'] });
const refused = problemResponses(
  401,
  [403, 'the API key is not bound to one agent (MCP.KEY_NOT_BOUND), or an operator token'],
  [429, 'the key is over its rate limit (POST only)'],
);
const jsonRpcError = (description: string) => ({
  description,
  content: { 'application/json': { schema: { type: 'object', required: ['jsonrpc', 'error'] } } },
});

/** `/mcp` in ingest's OpenAPI document: MCP Streamable HTTP (contract §7); messages are JSON-RPC. */
export const MCP_OPENAPI_PATHS = {
  '/mcp': {
    post: {
      summary: 'MCP Streamable HTTP: one JSON-RPC message (or batch); initialize starts a session',
      security: BEARER_SECURITY,
      parameters: [session, version],
      requestBody: jsonBody({ type: ['object', 'array'], description: 'JSON-RPC 2.0 message(s)' }),
      responses: {
        '200': {
          description: 'the answer(s), as an SSE stream (text/event-stream) with progress notifications',
          headers: { 'Mcp-Session-Id': { schema: { type: 'string' }, description: 'set by initialize' } },
        },
        '202': { description: 'notifications and responses only: accepted' },
        '400': jsonRpcError('no Mcp-Session-Id, an unsupported protocol version, or not JSON-RPC'),
        '404': jsonRpcError('unknown or ended session'),
        ...refused,
      },
    },
    get: {
      summary: "MCP Streamable HTTP: the server's stream for a session (SSE)",
      security: BEARER_SECURITY,
      parameters: [session, version],
      responses: {
        '200': { description: 'text/event-stream' },
        '400': jsonRpcError('no Mcp-Session-Id'),
        '404': jsonRpcError('unknown or ended session'),
        ...refused,
      },
    },
    delete: {
      summary: 'MCP Streamable HTTP: end a session',
      security: BEARER_SECURITY,
      parameters: [session, version],
      responses: {
        '200': { description: 'ended; the id is unknown from now on' },
        '400': jsonRpcError('no Mcp-Session-Id'),
        '404': jsonRpcError('unknown or ended session'),
        ...refused,
      },
    },
  },
};
