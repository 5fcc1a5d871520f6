import * as z from 'zod';

// A namespace import, unlike `import { z }`, lets esbuild drop the parts of zod the app does not use
// (locales, JSON Schema): contracts/ would shrink app.js about fourfold by importing zod this way too.
// Imported first by main.ts, before any schema is built: zod's JIT probes `new Function`, which a
// strict Content-Security-Policy (see index.html) reports as a violation even though zod recovers.
z.config({ jitless: true });
