'use strict';
// Usage: node s3rver-main.cjs '<json options>'
// Runs s3rver in a process of its own, so that the local cloud can supervise it like the other
// emulators: a crash of s3rver is seen, reported and restarted instead of taking the local cloud
// with it. Listens on 127.0.0.1 on the given port, or one the OS picks when it is 0, and prints
// `s3rver listening on <port>` once it accepts connections. Options: directory (required), port.
const { createServer } = require('node:http');
const S3rver = require('s3rver');

const options = JSON.parse(process.argv[2] || '{}');
if (typeof options.directory !== 'string') {
  console.error('s3rver-main: the option "directory" is required');
  process.exit(2);
}
// s3rver itself accepts only the access key S3RVER or unsigned requests; the edge removes
// signatures on the s3 route so that any credentials work there.
const s3rver = new S3rver({ directory: options.directory, silent: true });
const server = createServer(s3rver.callback());

server.on('error', (error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
server.listen(options.port || 0, '127.0.0.1', () => {
  console.log(`s3rver listening on ${server.address().port}`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
