import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { type DeadLetterMessage, type LateEventMessage } from '../../contracts/clickstream';
import { readLocalCloudState } from '../../contracts/local-cloud';
import { localClientConfig } from '../../local/clients';
import { findFreePort } from '../../local/emulators/process';
import { expectedWindowCounts, generateClicks, type GeneratedRecord } from '../../simulator/clicks';
import { putAll } from '../../simulator/producer';
import { windowCountsAt } from '../support/local-cloud';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

const REPO = resolve(__dirname, '../..');
const TSX_LOADER = pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href;

/**
 * The real CLI (`npm start -- --persist --no-simulate --port N`), run in a folder of its own so
 * that `--persist` takes its default folder there (.watershed/data, a relative path).
 */
class CliRun {
  readonly output: string[] = [];
  private readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(readonly cwd: string, port: number) {
    this.child = spawn(process.execPath, ['--import', TSX_LOADER, join(REPO, 'local/cli.ts'), '--persist', '--no-simulate', '--port', String(port), '--dashboard-port', '0'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    this.child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.exited = new Promise((resolveExit) => this.child.once('exit', (code) => resolveExit(code)));
  }

  /** Resolves with the edge URL once the CLI says it is ready; fails with its output if it exits first. */
  async ready(timeoutMs = 150_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`npm start exited with ${this.child.exitCode}:\n${this.output.join('')}`);
      const state = readLocalCloudState(join(this.cwd, '.watershed'));
      if (state !== undefined && state.pid === this.child.pid && this.output.join('').includes('ready in')) return state.edgeUrl;
      await new Promise((resolveWait) => setTimeout(resolveWait, 250));
    }
    throw new Error(`npm start was not ready within ${timeoutMs} ms:\n${this.output.join('')}`);
  }

  /** kill -9: no clean stop, no chance to save anything. */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

async function drain<T>(edgeUrl: string, queueUrl: string): Promise<T[]> {
  const client = new SQSClient(localClientConfig(edgeUrl));
  const bodies: T[] = [];
  try {
    for (;;) {
      const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      if (Messages.length === 0) return bodies;
      bodies.push(...Messages.map((message) => JSON.parse(message.Body ?? 'null') as T));
      await client.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })) }));
    }
  } finally {
    client.destroy();
  }
}

async function produce(edgeUrl: string, stream: string, records: GeneratedRecord[]): Promise<void> {
  const kinesis = new KinesisClient(localClientConfig(edgeUrl));
  try {
    const stats = await putAll(kinesis, stream, records, { rate: 5000 });
    // Every record acknowledged before the kill: what was acknowledged must be counted, once.
    expect(stats.sent).toBe(records.length);
  } finally {
    kinesis.destroy();
  }
}

const total = (counts: Map<string, number>): number => [...counts.values()].reduce((sum, count) => sum + count, 0);
/** Consumers de-duplicate dead letters and late events on their origin (README, "Late and bad events"). */
const byOrigin = <T extends { origin: { shardId: string; sequenceNumber: string } }>(messages: T[]): Map<string, T> =>
  new Map(messages.map((message) => [`${message.origin.shardId}/${message.origin.sequenceNumber}`, message]));

describe.skipIf(!java.available)(titled('npm start --persist: kill -9 and restart, twice, while events flow', java), () => {
  const folder = mkdtempSync(join(tmpdir(), 'watershed-persist-'));
  let run: CliRun | undefined;

  afterAll(async () => {
    await run?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('resumes each time: counts exact, every dead letter and late event present once', { timeout: 600_000 }, async () => {
    // Prepare: three phases of clicks with re-sends, late and malformed records, and their counts computed offline
    const records = [...generateClicks({ count: 2400, rate: 2000, seed: 12, duplicates: 0.03, late: 0.02, malformed: 0.02, startTime: Date.now() })];
    const phases = [records.slice(0, 800), records.slice(800, 1600), records.slice(1600)];
    const expected = expectedWindowCounts(records);
    const port = await findFreePort();

    // Act: start, put a phase, kill -9 while the aggregator is still working on it; twice; then once more to the end
    for (const [index, phase] of phases.entries()) {
      run = new CliRun(folder, port);
      const edgeUrl = await run.ready();
      if (index > 0) expect(run.output.join('')).toMatch(/kinesis stream {2}\S+ .*\(kept\)/);
      const outputs = readLocalCloudState(join(folder, '.watershed'));
      expect(outputs).toBeDefined();
      const stream = run.output.join('').match(/ClicksStreamName\s+(\S+)/)?.[1];
      expect(stream).toBeDefined();
      await produce(edgeUrl, stream!, phase);
      if (index < phases.length - 1) {
        await run.kill9();
        run = undefined;
      }
    }

    // Assess
    const edgeUrl = readLocalCloudState(join(folder, '.watershed'))!.edgeUrl;
    const text = run!.output.join('');
    const table = /ClickWindowsTableName\s+(\S+)/.exec(text)![1]!;
    const deadLetterQueue = /DeadLetterQueueUrl\s+(\S+)/.exec(text)![1]!;
    const lateQueue = /LateEventsQueueUrl\s+(\S+)/.exec(text)![1]!;
    let counted = new Map<string, number>();
    const deadline = Date.now() + 180_000;
    while (total(counted) < total(expected) && Date.now() < deadline) {
      await new Promise((resolveWait) => setTimeout(resolveWait, 1000));
      counted = await windowCountsAt(edgeUrl, table);
    }
    // Any over-count lands too, before the comparison.
    await new Promise((resolveWait) => setTimeout(resolveWait, 2000));
    expect(Object.fromEntries(await windowCountsAt(edgeUrl, table))).toStrictEqual(Object.fromEntries(expected));

    const malformed = records.filter((record) => record.truth.kind === 'malformed');
    const late = records.filter((record) => record.truth.kind === 'late');
    const deadLetters = byOrigin(await drain<DeadLetterMessage>(edgeUrl, deadLetterQueue));
    expect(deadLetters.size).toBe(malformed.length);
    const lateEvents = byOrigin(await drain<LateEventMessage>(edgeUrl, lateQueue));
    expect([...lateEvents.values()].map((message) => message.event.eventId).sort()).toStrictEqual(late.map((record) => String(record.truth.event?.eventId)).sort());

    // A clean stop, with the default folder filled
    expect(await run!.stop()).toBe(0);
    run = undefined;
    expect(existsSync(join(folder, '.watershed', 'data', 'dynamodb'))).toBe(true);
    expect(existsSync(join(folder, '.watershed', 'data', 'event-source-positions.jsonl'))).toBe(true);
  });
});
