#!/usr/bin/env node
/*
 * A local OTLP/HTTP receiver for measuring tracing cost: accepts POST /v1/traces (JSON or protobuf),
 * counts requests and bytes, and throws the spans away.
 *
 *   node bench/otlp-sink.js [--port 4318]
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 npm run bench -- --only e2e
 */
'use strict';
const http = require('node:http');
const lib = require('./lib');

const args = lib.parseArgs();
const port = Number(args.port ?? 4318);
let requests = 0;
let bytes = 0;
http
  .createServer((req, res) => {
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end('{}');
    });
  })
  .listen(port, '127.0.0.1', () => console.log(`otlp sink on http://127.0.0.1:${port}`));
setInterval(
  () => console.log(`otlp sink: ${requests} export requests, ${(bytes / 1e6).toFixed(1)} MB`),
  10_000,
).unref();
process.on('SIGTERM', () => process.exit(0));
