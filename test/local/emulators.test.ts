import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, ListTablesCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListStreamsCommand,
  PutRecordCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EmulatorStartError,
  MissingRuntimeError,
  startDynamoDb,
  startKinesis,
  startS3,
  startServices,
  type KinesisEngine,
  type LocalServices,
} from '../../local/emulators';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const credentials = (accessKeyId: string) => ({ accessKeyId, secretAccessKey: 'secret' });

/** Whether a TCP connection to host:port is accepted (false when refused or not answered within 2 s). */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    const done = (accepted: boolean) => {
      socket.destroy();
      resolve(accepted);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
const http1 = () => new NodeHttpHandler();

/** Resolves once nothing answers on `endpoint` any more; rejects after `timeoutMs`. */
async function expectGone(endpoint: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await fetch(endpoint, { signal: AbortSignal.timeout(1000) }).then(
      () => true,
      () => false,
    );
    if (!answered) return;
    if (Date.now() > deadline) throw new Error(`${endpoint} still answers after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'watershed-emulators-test-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.each<[KinesisEngine]>([['kinesalite'], ['kinesis-local']])('Kinesis engine %s', (engine) => {
  it('starts on 127.0.0.1, serves CreateStream/PutRecord/GetRecords, and frees its port on stop', async () => {
    const kinesis = await startKinesis({ engine });
    const client = new KinesisClient({ endpoint: kinesis.endpoint, region: 'us-east-1', credentials: credentials('k'), requestHandler: http1() });
    try {
      expect(kinesis.name).toBe(`kinesis (${engine})`);
      expect(kinesis.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await client.send(new CreateStreamCommand({ StreamName: 'engine-test', ShardCount: 1 }));
      let iterator: string | undefined;
      for (let i = 0; i < 50 && iterator === undefined; i++) {
        iterator = await client
          .send(new GetShardIteratorCommand({ StreamName: 'engine-test', ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }))
          .then((result) => result.ShardIterator, () => undefined);
        if (iterator === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await client.send(new PutRecordCommand({ StreamName: 'engine-test', PartitionKey: 'p', Data: Buffer.from('on ' + engine) }));
      const { Records } = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
      expect(Records?.map((record) => Buffer.from(record.Data ?? []).toString())).toStrictEqual([`on ${engine}`]);
    } finally {
      client.destroy();
      await kinesis.stop();
    }
    await expectGone(kinesis.endpoint, 1000);
  });
});

describe('Kinesis (kinesalite)', () => {
  it('keeps streams across restarts with persistDir', async () => {
    await withTempDir(async (dir) => {
      const first = await startKinesis({ persistDir: dir });
      const firstClient = new KinesisClient({ endpoint: first.endpoint, region: 'us-east-1', credentials: credentials('k'), requestHandler: http1() });
      await firstClient.send(new CreateStreamCommand({ StreamName: 'persisted', ShardCount: 1 }));
      firstClient.destroy();
      await first.stop();

      const second = await startKinesis({ persistDir: dir });
      const secondClient = new KinesisClient({ endpoint: second.endpoint, region: 'us-east-1', credentials: credentials('k'), requestHandler: http1() });
      try {
        expect((await secondClient.send(new ListStreamsCommand({}))).StreamNames).toStrictEqual(['persisted']);
      } finally {
        secondClient.destroy();
        await second.stop();
      }
    });
  });

  it('fails with the engine output when its port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const failure = startKinesis({ port });
      await expect(failure).rejects.toBeInstanceOf(EmulatorStartError);
      await expect(failure).rejects.toThrow(
        /^kinesis \(kinesalite\) failed to start: the process exited early \(exit code 1\)\n--- last output of kinesis \(kinesalite\) ---\n[\s\S]*EADDRINUSE/,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('rejects an unknown engine, naming the valid ones', async () => {
    await expect(startKinesis({ engine: 'kinesis-mock' as KinesisEngine })).rejects.toThrow(
      'Unknown Kinesis engine. Received kinesis-mock; expected one of kinesalite, kinesis-local',
    );
  });
});

describe('DynamoDB Local', () => {
  it('fails with what to install when Java is missing', async () => {
    const saved = process.env.JAVA_HOME;
    process.env.JAVA_HOME = '/nonexistent-java-home';
    try {
      const failure = startDynamoDb();
      await expect(failure).rejects.toBeInstanceOf(MissingRuntimeError);
      await expect(failure).rejects.toThrow(
        'Java 17+ is required for DynamoDB Local, and no `/nonexistent-java-home/bin/java` runs: apt-get install -y openjdk-17-jre-headless',
      );
    } finally {
      if (saved === undefined) delete process.env.JAVA_HOME;
      else process.env.JAVA_HOME = saved;
    }
  });
});

describe.skipIf(!java.available)(titled('DynamoDB Local process', java), () => {
  it('ends Java when its launcher is killed, so no orphan keeps the port or the data folder', async () => {
    const dynamodb = await startDynamoDb();
    const javaPid = dynamodb.pid!;
    try {
      // Prepare: the launcher (supervise.cjs) is Java's parent
      const launcherPid = Number(readFileSync(`/proc/${javaPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      expect(readFileSync(`/proc/${launcherPid}/cmdline`, 'utf8')).toContain('supervise.cjs');

      // Act
      process.kill(launcherPid, 'SIGKILL');
      await dynamodb.exited;

      // Assess
      await expectGone(dynamodb.endpoint, 5000);
      const deadline = Date.now() + 5000;
      while (existsSync(`/proc/${javaPid}`) && !readFileSync(`/proc/${javaPid}/stat`, 'utf8').includes(') Z ') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(existsSync(`/proc/${javaPid}`) && !readFileSync(`/proc/${javaPid}/stat`, 'utf8').includes(') Z '), `java pid ${javaPid} still running`).toBe(false);
    } finally {
      await dynamodb.stop();
    }
  });
});

describe('S3 (s3rver)', () => {
  it('keeps objects across restarts with persistDir', async () => {
    await withTempDir(async (dir) => {
      const first = await startS3({ persistDir: dir });
      // Straight to s3rver, without the edge: only its own key S3RVER is accepted there.
      const s3rverCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
      const firstClient = new S3Client({ endpoint: first.endpoint, region: 'us-east-1', credentials: s3rverCredentials, forcePathStyle: true });
      await firstClient.send(new CreateBucketCommand({ Bucket: 'kept' }));
      await firstClient.send(new PutObjectCommand({ Bucket: 'kept', Key: 'a.txt', Body: 'still here' }));
      firstClient.destroy();
      await first.stop();
      await expectGone(first.endpoint, 1000);

      const second = await startS3({ persistDir: dir });
      const secondClient = new S3Client({ endpoint: second.endpoint, region: 'us-east-1', credentials: s3rverCredentials, forcePathStyle: true });
      try {
        const object = await secondClient.send(new GetObjectCommand({ Bucket: 'kept', Key: 'a.txt' }));
        expect(await object.Body?.transformToString()).toBe('still here');
      } finally {
        secondClient.destroy();
        await second.stop();
      }
    });
  });
});

describe.skipIf(!java.available)(titled('startServices', java), () => {
  let local: LocalServices;
  const lines: string[] = [];

  beforeAll(async () => {
    local = await startServices({ edgePort: 0, log: (line) => lines.push(line) });
  });
  afterAll(async () => {
    await local?.stop();
  });

  it('starts every engine behind one edge and says what runs where', async () => {
    expect(local.edgeUrl).toBe(`http://127.0.0.1:${local.edge.port}`);
    expect(local.edge.services()).toStrictEqual(['dynamodb', 'kinesis', 's3', 'sqs']);
    const health = (await (await fetch(`${local.edgeUrl}/_localstack/health`)).json()) as unknown;
    expect(health).toStrictEqual({ services: { dynamodb: 'running', kinesis: 'running', s3: 'running', sqs: 'running' } });
    expect(lines).toStrictEqual([
      `edge      ${local.edgeUrl}  (HTTP/1.1 and h2c; routes by SigV4 credential scope)`,
      `kinesis   ${local.services.kinesis.endpoint}  kinesis (kinesalite)`,
      `dynamodb  ${local.services.dynamodb.endpoint}  dynamodb (DynamoDB Local)`,
      `s3        ${local.services.s3.endpoint}  s3 (s3rver)`,
      `sqs       ${local.services.sqs.endpoint}  sqs (local stand-in), mounted in the edge`,
      'data in memory (lost on stop)',
    ]);
  });

  it('every engine runs in a process of its own, listening on 127.0.0.1 only (DynamoDB Local included)', async () => {
    // A non-loopback address of this machine: an engine listening on every interface answers there.
    const external = Object.values(networkInterfaces()).flat().find((address) => address?.family === 'IPv4' && !address.internal)?.address;
    expect(external, 'this test needs a non-loopback IPv4 address to connect from').toBeDefined();
    for (const key of ['kinesis', 'dynamodb', 's3'] as const) {
      const service = local.services[key];
      expect(service.pid, `${key} pid`).not.toBe(process.pid);
      expect(process.kill(service.pid!, 0), `${key} pid ${service.pid} is a live process`).toBe(true);
      const port = Number(new URL(service.endpoint).port);
      expect(await connects('127.0.0.1', port), `${key} on 127.0.0.1:${port}`).toBe(true);
      expect(await connects(external!, port), `${key} on ${external}:${port}`).toBe(false);
    }
  });

  it('shares DynamoDB tables across access keys and regions (-sharedDb)', async () => {
    const alice = new DynamoDBClient({ endpoint: local.edgeUrl, region: 'us-east-1', credentials: credentials('alice') });
    const bob = new DynamoDBClient({ endpoint: local.edgeUrl, region: 'ap-southeast-2', credentials: credentials('bob') });
    try {
      await alice.send(
        new CreateTableCommand({
          TableName: 'shared-table',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      await alice.send(new PutItemCommand({ TableName: 'shared-table', Item: { pk: { S: 'from-alice' }, n: { N: '7' } } }));
      expect((await bob.send(new ListTablesCommand({}))).TableNames).toStrictEqual(['shared-table']);
      const item = await bob.send(new GetItemCommand({ TableName: 'shared-table', Key: { pk: { S: 'from-alice' } } }));
      expect(item.Item).toStrictEqual({ pk: { S: 'from-alice' }, n: { N: '7' } });
    } finally {
      alice.destroy();
      bob.destroy();
    }
  });

  it('stops the edge and every engine', async () => {
    const endpoints = [local.edgeUrl, ...Object.values(local.services).map((service) => service.endpoint)];
    await local.stop();
    for (const endpoint of endpoints) await expectGone(endpoint, 2000);
  });
});

describe('emulator children die with their parent', () => {
  /** A child HTTP server that prints its port. */
  const SERVER = "const s=require('http').createServer((q,r)=>r.end('ok')).listen(0,'127.0.0.1',()=>console.log('port '+s.address().port))";

  /** Runs a parent Node.js process that starts SERVER under the given guard and prints its port. */
  async function startParent(guard: 'preload' | 'supervise', after: 'wait' | 'exit'): Promise<{ port: number; kill: () => void; exited: Promise<void> }> {
    const script = `
      const { spawnEmulator } = require(${JSON.stringify(join(REPO_ROOT, 'local/emulators/process.ts'))});
      (async () => {
        const proc = spawnEmulator({ service: 'probe', command: process.execPath, args: ['-e', ${JSON.stringify(SERVER)}], orphanGuard: '${guard}' });
        const match = await proc.waitForLine(/^port (\\d+)/, 15000);
        console.log('READY ' + match[1]);
        if ('${after}' === 'exit') process.exit(0);
        setInterval(() => undefined, 1000);
      })();`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => parent.once('exit', () => resolve()));
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      parent.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /READY (\d+)/.exec(output);
        if (match?.[1]) resolve(Number(match[1]));
      });
      parent.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      parent.once('exit', () => reject(new Error(`the parent exited before READY:\n${output}`)));
    });
    return { port, kill: () => parent.kill('SIGKILL'), exited };
  }

  it.each<['preload' | 'supervise']>([['preload'], ['supervise']])(
    'a %s-guarded child stops when its parent is SIGKILLed',
    async (guard) => {
      const parent = await startParent(guard, 'wait');
      const endpoint = `http://127.0.0.1:${parent.port}`;
      expect(await (await fetch(endpoint)).text()).toBe('ok');
      parent.kill();
      await parent.exited;
      await expectGone(endpoint);
    },
  );

  it('a child stops when its parent exits normally', async () => {
    const parent = await startParent('supervise', 'exit');
    await parent.exited;
    await expectGone(`http://127.0.0.1:${parent.port}`);
  });
});
