'use strict';
// Shared by the Node.js emulator children (kinesalite-main.cjs, s3rver-main.cjs): listens on one
// host, prints `<name> listening on <port>` once connections are accepted (what the parent waits
// for), exits on a server error with its stack, and closes cleanly on SIGTERM/SIGINT.

/** @param {import('node:http').Server} server @param {{ name: string, host?: string, port?: number }} options */
function serveUntilSignalled(server, { name, host = '127.0.0.1', port = 0 }) {
  server.on('error', (error) => {
    console.error(error.stack || String(error));
    process.exit(1);
  });
  server.listen(port, host, () => {
    console.log(`${name} listening on ${server.address().port}`);
  });
  const shutdown = () => {
    // Closing the server lets the emulator flush what it keeps (kinesalite closes its LevelDB store).
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

module.exports = { serveUntilSignalled };
