import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboardSync } from '../../web/build';

/**
 * Absolute URLs the bundle may contain because they are identifiers, never fetched: the SVG
 * namespace, JSON Schema dialect ids and zod's IPv6 URL template (both in zod's code).
 */
const IDENTIFIER_URLS = new Set([
  'http://www.w3.org/2000/svg',
  'http://json-schema.org/draft-04/schema#',
  'http://json-schema.org/draft-07/schema#',
  'https://json-schema.org/draft/2020-12/schema',
  'http://[',
]);

describe('buildDashboardSync', () => {
  let outdir: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'watershed-web-'));
    buildDashboardSync(join(outdir, 'dashboard'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const read = (file: string) => readFileSync(join(outdir, 'dashboard', file), 'utf8');

  it('writes index.html, styles.css and a minified app.js with its source map, and no config.json', () => {
    expect(readdirSync(join(outdir, 'dashboard')).sort()).toStrictEqual(['app.js', 'app.js.map', 'index.html', 'styles.css']);
    expect(read('app.js')).toMatch(/\/\/# sourceMappingURL=app\.js\.map\s*$/);
    // Minified: a few very long lines (the rest are newlines inside template literals), not the sources' thousands.
    const lines = read('app.js').split('\n');
    expect(lines.length).toBeLessThan(200);
    expect(read('app.js').length / lines.length).toBeGreaterThan(1000);
    expect(JSON.parse(read('app.js.map')).sources.some((source: string) => source.endsWith('web/src/main.ts'))).toBe(true);
  });

  it('references only files it wrote, by relative path', () => {
    const html = read('index.html');
    const references = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);

    expect(references.sort()).toStrictEqual(['app.js', 'data:,', 'styles.css']);
    for (const reference of references.filter((ref) => !ref.startsWith('data:'))) expect(existsSync(join(outdir, 'dashboard', reference))).toBe(true);
  });

  it('loads nothing from other origins: no external scripts, styles, fonts or fetches', () => {
    const urlsIn = (text: string) => [...text.matchAll(/https?:\/\/[^\s"'`)]*/g)].map((match) => match[0]);

    expect(urlsIn(read('index.html'))).toStrictEqual([]);
    expect(urlsIn(read('styles.css'))).toStrictEqual([]);
    expect(read('styles.css')).not.toMatch(/@import|@font-face|url\(/);
    const appUrls = urlsIn(read('app.js')).map((url) => (url.startsWith('http://[') ? 'http://[' : url));
    expect(appUrls.filter((url) => !IDENTIFIER_URLS.has(url))).toStrictEqual([]);
    expect(read('app.js')).not.toMatch(/importScripts|import\(\s*["'`]https?:/);
  });

  it('ships a Content-Security-Policy that allows only its own origin for scripts and styles', () => {
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(read('index.html'))?.[1];

    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("default-src 'self'");
  });
});
