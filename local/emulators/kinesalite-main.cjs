'use strict';
// Usage: node kinesalite-main.cjs '<json options>'
// Runs kinesalite bound to one host (127.0.0.1 by default) on the given port, or on one the OS
// picks when the port is 0, and prints `kinesalite listening on <port>` once it accepts
// connections. kinesalite's own CLI listens on every interface and cannot use port 0.
// Options are those of kinesalite(options): path, createStreamMs, deleteStreamMs,
// updateStreamMs, shardLimit; plus port and host. UpdateShardCount is served by
// kinesalite-update-shard-count.cjs, as uniform splits and merges.
const kinesalite = require('kinesalite');
const { withUpdateShardCount } = require('./kinesalite-update-shard-count.cjs');

const options = JSON.parse(process.argv[2] || '{}');
const server = kinesalite(options);
// kinesalite has SplitShard and MergeShards but no UpdateShardCount: it is added on top of them.
withUpdateShardCount(server, () => `http://127.0.0.1:${server.address().port}/`);

server.on('error', (error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
server.listen(options.port || 0, options.host || '127.0.0.1', () => {
  console.log(`kinesalite listening on ${server.address().port}`);
});

function shutdown() {
  // Closing the server closes the LevelDB store too, so persisted data is flushed.
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
