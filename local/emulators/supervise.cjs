'use strict';
// Usage: node supervise.cjs <command> [args...]
// Runs a non-Node emulator (DynamoDB Local on Java) for the local cloud and ends it when this
// process's stdin ends (the parent died, even by SIGKILL) or on SIGTERM/SIGINT/SIGHUP.
// Output is passed through; the exit code is the command's.
const { spawn } = require('node:child_process');

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node supervise.cjs <command> [args...]');
  process.exit(2);
}

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;

function stop() {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 3000).unref();
}

child.on('error', (error) => {
  console.error(`supervise: cannot run ${command}: ${error.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGTERM' ? 0 : 1)));

process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
