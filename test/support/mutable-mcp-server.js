'use strict';
/**
 * A tiny stdio MCP server for the upstream tests whose tool definition can change between starts
 * (a rug pull): `lookup`'s description is read from the file named by argv[2] at start. It writes
 * its pid to `<file>.pid`, so a test can kill it and watch the worker restart it.
 */
const { readFileSync, writeFileSync } = require('node:fs');
const { Server } = require('@modelcontextprotocol/sdk/server/index.js');
const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js');
const { ListToolsRequestSchema, CallToolRequestSchema } = require('@modelcontextprotocol/sdk/types.js');

const file = process.argv[2];
const description = readFileSync(file, 'utf8').trim();
writeFileSync(`${file}.pid`, String(process.pid));

const server = new Server({ name: 'mutable', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    {
      name: 'lookup',
      description,
      inputSchema: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
      annotations: { readOnlyHint: true, destructiveHint: false, openWorldHint: false },
    },
    {
      name: 'erase',
      description: 'Erases a key.',
      inputSchema: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
      annotations: { readOnlyHint: false, destructiveHint: true },
    },
  ],
}));
server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const key = String(req.params.arguments?.key ?? '');
  if (req.params.name === 'lookup') {
    if (key === 'missing') return { content: [{ type: 'text', text: `no such key: ${key}` }], isError: true };
    return { content: [{ type: 'text', text: `value of ${key}` }], structuredContent: { key, value: key.length } };
  }
  return { content: [{ type: 'text', text: `erased ${key}` }] };
});
void server.connect(new StdioServerTransport());
