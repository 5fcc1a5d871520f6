'use strict';
// Usage: node supervise.cjs <command> [args...]
// Runs a non-Node emulator (DynamoDB Local on Java) for the local cloud and ends it when this
// process's stdin ends (the parent died, even by SIGKILL) or on SIGTERM/SIGINT/SIGHUP.
// Output is passed through. The first line of output is `supervise: pid <N>`, the command's own
// process id (what a test kills to fake a crash). This process ends as the command did: with its
// exit code, or by the same signal, so whoever watches it sees a kill -9 of the command as one.
const { spawn } = require('node:child_process');

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node supervise.cjs <command> [args...]');
  process.exit(2);
}

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (child.pid !== undefined) process.stdout.write(`supervise: pid ${child.pid}\n`);
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
child.on('exit', (code, signal) => {
  if (signal === null) process.exit(code ?? 1);
  // Re-raised without this script's handlers, so the default action (ending the process) applies.
  for (const handled of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.removeAllListeners(handled);
  process.kill(process.pid, signal);
});

process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
