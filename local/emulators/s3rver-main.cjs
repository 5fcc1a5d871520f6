'use strict';
// Usage: node s3rver-main.cjs '<json options>'
// Runs s3rver in a process of its own, so that the local cloud can supervise it like the other
// emulators: a crash of s3rver is seen, reported and restarted instead of taking the local cloud
// with it. Listens on 127.0.0.1 on the given port, or one the OS picks when it is 0, and prints
// `s3rver listening on <port>` once it accepts connections. Options: directory (required), port.
const { createServer } = require('node:http');
const S3rver = require('s3rver');
const { serveUntilSignalled } = require('./child-server.cjs');

const options = JSON.parse(process.argv[2] || '{}');
if (typeof options.directory !== 'string') {
  console.error('s3rver-main: the option "directory" is required');
  process.exit(2);
}
// s3rver itself accepts only the access key S3RVER or unsigned requests; the edge removes
// signatures on the s3 route so that any credentials work there.
const s3rver = new S3rver({ directory: options.directory, silent: true });
const server = createServer(s3rver.callback());

serveUntilSignalled(server, { name: 's3rver', port: options.port });
