import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { buildSync } from 'esbuild';

/**
 * Builds the static dashboard into `outdir`: index.html, styles.css, app.js (+ app.js.map).
 * Everything is bundled, nothing is fetched from a CDN. The host writes `config.json` next to
 * these files (the CDK construct at deploy time, the local cloud when it serves them).
 */

const WEB_ROOT = __dirname;
export const DASHBOARD_ENTRY = path.join(WEB_ROOT, 'src', 'main.ts');
/** Static files copied as they are. */
export const DASHBOARD_STATIC_FILES = ['index.html', 'styles.css'] as const;
/** Browsers the bundle targets: the last two years of evergreen ones. */
export const DASHBOARD_BROWSER_TARGET = ['chrome111', 'edge111', 'firefox113', 'safari16.4'];

export class DashboardBuildError extends Error {
  override name = 'DashboardBuildError';
}

export function buildDashboardSync(outdir: string): void {
  const target = path.resolve(outdir);
  mkdirSync(target, { recursive: true });
  try {
    buildSync({
      entryPoints: [DASHBOARD_ENTRY],
      outfile: path.join(target, 'app.js'),
      bundle: true,
      minify: true,
      sourcemap: true,
      platform: 'browser',
      format: 'iife',
      target: DASHBOARD_BROWSER_TARGET,
      legalComments: 'none',
      logLevel: 'silent',
      absWorkingDir: path.resolve(WEB_ROOT, '..'),
    });
  } catch (error) {
    throw new DashboardBuildError(`Cannot build the dashboard from ${DASHBOARD_ENTRY}: ${(error as Error).message}`);
  }
  for (const file of DASHBOARD_STATIC_FILES) copyFileSync(path.join(WEB_ROOT, file), path.join(target, file));
}
