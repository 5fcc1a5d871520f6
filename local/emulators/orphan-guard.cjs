'use strict';
// Preloaded (`node --require orphan-guard.cjs ...`) into a Node.js emulator child of the local
// cloud. The parent holds the other end of this process's stdin; when the parent dies, even by
// SIGKILL, stdin ends and this process exits instead of living on as an orphan.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
