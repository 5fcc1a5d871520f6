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
const { serveUntilSignalled } = require('./child-server.cjs');

const options = JSON.parse(process.argv[2] || '{}');
const server = kinesalite(options);
// kinesalite has SplitShard and MergeShards but no UpdateShardCount: it is added on top of them.
withUpdateShardCount(server, () => `http://127.0.0.1:${server.address().port}/`);

serveUntilSignalled(server, { name: 'kinesalite', host: options.host, port: options.port });
