import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardConfig } from '../../contracts/dashboard';
import { startLocalDashboard, startStaticServer, type StaticServer } from '../../local/dashboard';

let root: string;
let site: string;
let server: StaticServer;

beforeAll(async () => {
  // <root>/secret.txt lies outside the served folder <root>/site.
  root = mkdtempSync(join(tmpdir(), 'watershed-web-server-'));
  site = join(root, 'site');
  mkdirSync(join(site, 'nested', 'deeper'), { recursive: true });
  writeFileSync(join(root, 'secret.txt'), 'outside the site');
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>dashboard</title>');
  writeFileSync(join(site, 'app.js'), 'console.log(1);');
  writeFileSync(join(site, 'app.js.map'), '{"version":3}');
  writeFileSync(join(site, 'styles.css'), 'body{}');
  writeFileSync(join(site, 'config.json'), '{"ok":true}');
  writeFileSync(join(site, 'data.bin'), Buffer.from([1, 2, 3]));
  writeFileSync(join(site, 'nested', 'index.html'), 'nested index');
  writeFileSync(join(site, 'nested', 'deeper', 'file name.txt'), 'spaced');
  symlinkSync(join(root, 'secret.txt'), join(site, 'leak.txt'));
  symlinkSync(join(site, 'app.js'), join(site, 'alias.js'));
  server = await startStaticServer({ directory: site, port: 0 });
});

afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A raw request: the path goes out exactly as written, with no normalisation by a client. */
function raw(path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startStaticServer', () => {
  it('listens on 127.0.0.1 on an OS-picked port', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
  });

  it.each<[string, number, string | undefined, string]>([
    ['/', 200, 'text/html; charset=utf-8', '<!doctype html><title>dashboard</title>'],
    ['/index.html', 200, 'text/html; charset=utf-8', '<!doctype html><title>dashboard</title>'],
    ['/app.js', 200, 'text/javascript; charset=utf-8', 'console.log(1);'],
    ['/app.js.map', 200, 'application/json; charset=utf-8', '{"version":3}'],
    ['/styles.css', 200, 'text/css; charset=utf-8', 'body{}'],
    ['/config.json?cache=bust', 200, 'application/json; charset=utf-8', '{"ok":true}'],
    ['/data.bin', 200, 'application/octet-stream', '\u0001\u0002\u0003'],
    ['/nested', 200, 'text/html; charset=utf-8', 'nested index'],
    ['/nested/', 200, 'text/html; charset=utf-8', 'nested index'],
    ['/nested/deeper/file%20name.txt', 200, 'text/plain; charset=utf-8', 'spaced'],
    ['/alias.js', 200, 'text/javascript; charset=utf-8', 'console.log(1);'],
    ['/missing.js', 404, 'text/plain; charset=utf-8', 'Not Found'],
    ['/nested/deeper', 404, 'text/plain; charset=utf-8', 'Not Found'],
  ])('GET %s answers %i %s', async (path, status, type, body) => {
    // Act
    const response = await raw(path);

    // Assess
    expect({ status: response.status, type: response.type, body: response.body }).toStrictEqual({ status, type, body });
  });

  it('marks files as not to be cached and not to be sniffed', async () => {
    // Act
    const { headers } = await raw('/config.json');

    // Assess
    expect({ cache: headers['cache-control'], sniff: headers['x-content-type-options'], length: headers['content-length'] }).toStrictEqual({ cache: 'no-cache', sniff: 'nosniff', length: '11' });
  });

  it.each([
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/..%2fsecret.txt',
    '/..%5csecret.txt',
    '/nested/../../secret.txt',
    '/nested/%2e%2e/%2e%2e/secret.txt',
    '//../secret.txt',
    '/leak.txt',
    '/index.html%00.js',
    '/%E0%A4%A',
  ])('never serves anything outside the folder: GET %s answers 404', async (path) => {
    // Act
    const response = await raw(path);

    // Assess
    expect(response.status).toBe(404);
    expect(response.body).not.toContain('outside the site');
  });

  it('answers HEAD with the headers only', async () => {
    // Act
    const response = await raw('/app.js', 'HEAD');

    // Assess
    expect({ status: response.status, type: response.type, length: response.headers['content-length'], body: response.body }).toStrictEqual({
      status: 200,
      type: 'text/javascript; charset=utf-8',
      length: '15',
      body: '',
    });
  });

  it.each(['POST', 'PUT', 'DELETE'])('answers %s with 405 and Allow', async (method) => {
    // Act
    const response = await raw('/index.html', method);

    // Assess
    expect({ status: response.status, allow: response.headers.allow }).toStrictEqual({ status: 405, allow: 'GET, HEAD' });
  });

  it('says which flag to use when the port is taken', async () => {
    // Act
    const second = startStaticServer({ directory: site, port: server.port });

    // Assess
    await expect(second).rejects.toThrow(`The dashboard cannot listen on 127.0.0.1:${server.port}: the port is in use (choose another with --dashboard-port)`);
  });
});

describe('startLocalDashboard', () => {
  it('builds the web app and serves it with the local config.json', async () => {
    // Prepare
    const directory = join(root, 'dashboard');
    const config: DashboardConfig = { webSocketUrl: 'ws://127.0.0.1:4566/_ws/abcdefghij/live', auth: { mode: 'dev', tokenUrl: 'http://127.0.0.1:4566/_watershed/dev-token' }, allowedLatenessSeconds: 90 };

    // Act
    const dashboard = await startLocalDashboard({ directory, config, port: 0 });
    try {
      const served = await fetch(`${dashboard.url}/config.json`);
      const index = await fetch(`${dashboard.url}/`);
      const app = await fetch(`${dashboard.url}/app.js`);

      // Assess
      expect(DashboardConfig.parse(await served.json())).toStrictEqual(config);
      expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await index.text()).toContain('app.js');
      expect(app.status).toBe(200);
      expect((await app.text()).length).toBeGreaterThan(1000);
    } finally {
      await dashboard.stop();
    }
  });

  it('refuses a config.json the web app could not read', async () => {
    // Act
    const starting = startLocalDashboard({
      directory: join(root, 'refused'),
      config: { webSocketUrl: 'http://not-a-websocket', auth: { mode: 'dev', tokenUrl: 'http://127.0.0.1:4566/_watershed/dev-token' } },
      port: 0,
    });

    // Assess
    await expect(starting).rejects.toThrow(/webSocketUrl/);
  });
});
