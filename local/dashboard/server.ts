import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** Content types of the files a built web app holds. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export interface StaticServerOptions {
  /** The folder to serve; `/` serves its index.html. */
  directory: string;
  /** 0 lets the OS pick. @default 3000 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
}

export interface StaticServer {
  /** `http://<host>:<port>` */
  url: string;
  port: number;
  directory: string;
  stop(): Promise<void>;
}

/**
 * A static file server for the dashboard: GET and HEAD only, content types by extension, no
 * caching (the local cloud rewrites config.json), and nothing outside the folder: `..` segments,
 * encoded or not, and symbolic links that lead out are refused.
 */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const host = options.host ?? '127.0.0.1';
  const root = await realpath(resolve(options.directory));
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    serve(root, req, res).catch(() => {
      if (!res.headersSent) plain(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      fail(error.code === 'EADDRINUSE' ? new Error(`The dashboard cannot listen on ${host}:${options.port ?? 3000}: the port is in use (choose another with --dashboard-port)`) : error),
    );
    server.listen(options.port ?? 3000, host, () => done());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    directory: root,
    stop: () =>
      (stopped ??= new Promise<void>((done) => {
        server.close(() => done());
        for (const socket of sockets) socket.destroy();
      })),
  };
}

async function serve(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    plain(res, 405, 'Method Not Allowed');
    return;
  }
  const target = await resolveTarget(root, req.url ?? '/');
  if (target === undefined) {
    plain(res, 404, 'Not Found');
    return;
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(target.path).toLowerCase()] ?? 'application/octet-stream',
    'content-length': target.size,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(target.path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** The file a request path names inside root (index.html for a folder), or undefined. */
async function resolveTarget(root: string, url: string): Promise<{ path: string; size: number } | undefined> {
  let path: string;
  try {
    path = decodeURIComponent(url.split(/[?#]/)[0] ?? '/');
  } catch {
    return undefined;
  }
  if (path.includes('\0') || path.split(/[\\/]/).includes('..')) return undefined;
  let candidate = resolve(root, `.${path.startsWith('/') ? path : `/${path}`}`);
  if (!inside(root, candidate)) return undefined;
  try {
    let info = await stat(candidate);
    if (info.isDirectory()) {
      candidate = join(candidate, 'index.html');
      info = await stat(candidate);
    }
    // Symbolic links are followed only while they stay inside the folder.
    if (!info.isFile() || !inside(root, await realpath(candidate))) return undefined;
    return { path: candidate, size: info.size };
  } catch {
    return undefined;
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
