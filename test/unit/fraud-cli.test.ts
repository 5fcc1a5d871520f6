import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCORING_CONFIG } from '../../contracts/fraud';
import { main } from '../../fraud/cli';
import type { QualityReport } from '../../fraud/backtest';

const directory = mkdtempSync(join(tmpdir(), 'fraud-cli-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const code = await main(argv, { stdout, stderr });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('npm run fraud -- backtest', () => {
  it('reports precision, recall and the confusion matrix per threshold and per pattern, as JSON', async () => {
    const { code, stdout } = await run(['backtest', '--orders', '3000', '--users', '300', '--seed', '3', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as QualityReport;
    expect(report.modelVersion).toBe(DEFAULT_SCORING_CONFIG.modelVersion);
    expect(report.byThreshold.map((row) => row.threshold)).toStrictEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
    const { truePositives, falsePositives, falseNegatives, trueNegatives } = report.flagged;
    expect(truePositives + falsePositives + falseNegatives + trueNegatives).toBe(report.orders.legit + report.orders.fraud);
    expect(report.orders.fraud).toBeGreaterThan(0);
    expect(Object.keys(report.byPattern).sort()).toStrictEqual(['account-takeover', 'card-testing', 'shared-ip']);
  });

  it('tries a configuration from a file: a stricter one flags more', async () => {
    const strict = join(directory, 'strict.json');
    writeFileSync(strict, JSON.stringify({ ...DEFAULT_SCORING_CONFIG, modelVersion: 'strict', thresholds: { review: 0.01, block: 0.5 } }));
    const base = JSON.parse((await run(['backtest', '--orders', '2000', '--users', '200', '--json'])).stdout) as QualityReport;
    const stricter = JSON.parse((await run(['backtest', '--orders', '2000', '--users', '200', '--json', '--config', strict])).stdout) as QualityReport;
    expect(stricter.modelVersion).toBe('strict');
    expect(stricter.flagged.truePositives + stricter.flagged.falsePositives).toBeGreaterThan(base.flagged.truePositives + base.flagged.falsePositives);
  });

  it('reads labelled JSON Lines and prints tables', async () => {
    const input = join(directory, 'orders.jsonl');
    const order = (orderId: string, amount: number) => ({ orderId, userId: 'u', amount, currency: 'USD', items: [{ sku: 's', quantity: 1, unitPrice: amount }], ipAddress: '192.0.2.1', timestamp: 1_700_000_000_000 });
    writeFileSync(input, [JSON.stringify({ order: order('a', 10), label: 'legit' }), JSON.stringify({ order: order('b', 9000), label: 'account-takeover' })].join('\n'));
    const { code, stdout } = await run(['backtest', '--input', input]);
    expect(code).toBe(0);
    expect(stdout).toContain('1 legitimate and 1 fraudulent orders');
    expect(stdout).toContain('| score >= 0.5 |');
    expect(stdout).toContain("Stripe publishes 0.1%");
  });

  it.each([
    [['backtest', '--config', join(directory, 'missing.json')], /missing\.json cannot be read/],
    [['backtest', '--orders', '0'], /--orders must be an integer between 1/],
    [['backtest', '--colour'], /Unknown option '--colour'/],
    [['nope'], /Unknown command "nope"/],
  ])('exits 2 with a message for %j', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('exits 2 naming the problem of an invalid configuration', async () => {
    const bad = join(directory, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...DEFAULT_SCORING_CONFIG, thresholds: { review: 0.9, block: 0.5 } }));
    const { code, stderr } = await run(['backtest', '--config', bad]);
    expect(code).toBe(2);
    expect(stderr).toContain('thresholds: review (0.9) must be below block (0.5)');
  });

  it('lists every flag with its default in --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const flag of ['--config', '--input', '--orders', '--users', '--rate', '--seed', '--json', '--table', '--endpoint', '--shadow']) expect(stdout).toContain(flag);
  });
});
