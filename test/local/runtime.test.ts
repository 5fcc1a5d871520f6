import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import type { FunctionSpec } from '../../local/cloudformation/provision';
import { LocalLambdaRuntime, type InvokeResult, type LocalLambdaRuntimeOptions } from '../../local/lambda/runtime';
import { startSqs, type SqsServer } from '../../local/sqs';

const FIXTURES = fileURLToPath(new URL('../fixtures/functions', import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UNUSED_EDGE = 'http://127.0.0.1:1';

/** A FunctionSpec as provisionStack resolves one, pointing at a fixture in test/fixtures/functions. */
function functionSpecFactory(functionName: string, fixture: string, overrides: Partial<FunctionSpec> = {}): FunctionSpec {
  return {
    logicalId: `${functionName}Function`,
    functionName,
    functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    codeDirectory: join(FIXTURES, fixture),
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    timeoutSeconds: 3,
    memorySize: 128,
    environment: {},
    ...overrides,
  };
}

const runtimes: LocalLambdaRuntime[] = [];
function runtimeFactory(functions: FunctionSpec[], options: Partial<LocalLambdaRuntimeOptions> = {}): LocalLambdaRuntime {
  const runtime = new LocalLambdaRuntime(functions, { edgeUrl: UNUSED_EDGE, ...options });
  runtimes.push(runtime);
  return runtime;
}

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((runtime) => runtime.stop()));
});

function payloadOf(result: InvokeResult): Record<string, unknown> {
  if (!result.ok) throw new Error(`expected a successful invocation, got ${result.errorType}: ${result.errorMessage}`);
  return result.payload as Record<string, unknown>;
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('LocalLambdaRuntime', () => {
  describe('execution environments', () => {
    beforeAll(() => {
      process.env.WATERSHED_TEST_PARENT_ONLY = 'must not leak into functions';
    });
    afterAll(() => {
      delete process.env.WATERSHED_TEST_PARENT_ONLY;
    });

    it('gives each function its own environment variables, context and module scope', async () => {
      // Prepare: two functions with the same code, so only separate module scopes keep their counters apart
      const runtime = runtimeFactory(
        [
          functionSpecFactory('alpha', 'echo', { environment: { GREETING: 'hello from alpha' }, memorySize: 256, timeoutSeconds: 5 }),
          functionSpecFactory('beta', 'echo', { environment: { GREETING: 'hello from beta' } }),
        ],
        { edgeUrl: 'http://127.0.0.1:4599' },
      );

      // Act
      const first = await runtime.invoke('alpha', { n: 1 });
      const second = await runtime.invoke('alpha', { n: 2 });
      const beta = await runtime.invoke('beta', { n: 3 });

      // Assess
      expect(first.ok).toBe(true);
      expect(payloadOf(second)).toStrictEqual({
        event: { n: 2 },
        invocations: 2,
        env: {
          GREETING: 'hello from alpha',
          PARENT_ONLY: undefined,
          AWS_ENDPOINT_URL: 'http://127.0.0.1:4599',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_LAMBDA_FUNCTION_NAME: 'alpha',
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
          AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
          TZ: 'UTC',
        },
        context: {
          functionName: 'alpha',
          functionVersion: '$LATEST',
          invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:alpha',
          memoryLimitInMB: '256',
          logGroupName: '/aws/lambda/alpha',
          awsRequestId: expect.stringMatching(UUID),
          remainingTimeInMillis: expect.any(Number),
        },
      });
      const remaining = (payloadOf(second).context as { remainingTimeInMillis: number }).remainingTimeInMillis;
      expect(remaining).toBeGreaterThan(4_000);
      expect(remaining).toBeLessThanOrEqual(5_000);
      expect(payloadOf(beta)).toMatchObject({ event: { n: 3 }, invocations: 1, env: { GREETING: 'hello from beta', AWS_LAMBDA_FUNCTION_NAME: 'beta' } });
      expect([runtime.stats('alpha'), runtime.stats('beta')]).toStrictEqual([
        { coldStarts: 1, invocations: 2, environments: 1, peakConcurrency: 1 },
        { coldStarts: 1, invocations: 1, environments: 1, peakConcurrency: 1 },
      ]);
      expect(runtime.functionNames).toStrictEqual(['alpha', 'beta']);
    });

    it('gives every invocation its own request id', async () => {
      // Prepare
      const runtime = runtimeFactory([functionSpecFactory('alpha', 'echo')]);

      // Act
      const results = [await runtime.invoke('alpha', {}), await runtime.invoke('alpha', {})];

      // Assess
      const ids = results.map((result) => (payloadOf(result).context as { awsRequestId: string }).awsRequestId);
      expect(new Set(ids).size).toBe(2);
    });

    it('runs the SDK inside a function against the endpoint in AWS_ENDPOINT_URL with the local credentials', async () => {
      // Prepare: the SQS stand-in, and a function that builds its client from the environment alone
      const sqsServer: SqsServer = await startSqs({});
      const sqs = new SQSClient(localClientConfig(sqsServer.endpoint));
      try {
        const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'runtime-test' }));
        const runtime = runtimeFactory([functionSpecFactory('sender', 'sqs-sender', { environment: { QUEUE_URL: QueueUrl! }, timeoutSeconds: 10 })], {
          edgeUrl: sqsServer.endpoint,
        });

        // Act
        const result = await runtime.invoke('sender', { body: 'hello through the emulator' });

        // Assess
        expect(payloadOf(result)).toStrictEqual({ sent: true });
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
        expect(Messages.map((message) => message.Body)).toStrictEqual(['hello through the emulator']);
      } finally {
        sqs.destroy();
        await sqsServer.stop();
      }
    });
  });

  describe.each<[string, Partial<FunctionSpec>, string, unknown, Omit<Extract<InvokeResult, { ok: false }>, 'durationMs'>]>([
    [
      'a handler that throws',
      {},
      'thrower',
      { eventId: 'e-42' },
      { ok: false, errorType: 'ClickValidationError', errorMessage: 'invalid click e-42' },
    ],
    [
      'a handler name the module does not export',
      { handler: 'index.missing' },
      'echo',
      {},
      { ok: false, errorType: 'Runtime.HandlerNotFound', errorMessage: `${join(FIXTURES, 'echo', 'index')} does not export a function named missing` },
    ],
  ])('%s', (_name, overrides, fixture, event, expected) => {
    it('returns the error type and message, and keeps the environment warm', async () => {
      // Prepare
      const runtime = runtimeFactory([functionSpecFactory('failing', fixture, overrides)]);

      // Act
      const results = [await runtime.invoke('failing', event), await runtime.invoke('failing', event)];

      // Assess
      expect(results).toStrictEqual([
        { ...expected, durationMs: expect.any(Number) },
        { ...expected, durationMs: expect.any(Number) },
      ]);
      expect(runtime.stats('failing')).toMatchObject({ coldStarts: 1, invocations: 2, environments: 1 });
    });
  });

  it('times out an invocation that outlives its Timeout, and cold-starts the next one', async () => {
    // Prepare
    // (2 s, so that a cold start on a busy machine fits in the timeout of the invocation after it)
    const runtime = runtimeFactory([functionSpecFactory('slow', 'sleeper', { timeoutSeconds: 2 })]);

    // Act
    const timedOut = await runtime.invoke('slow', { sleepMs: 6_000 });
    const next = await runtime.invoke('slow', { sleepMs: 0 });

    // Assess
    expect(timedOut).toStrictEqual({ ok: false, errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 2.00 seconds', durationMs: 2_000 });
    expect(payloadOf(next)).toMatchObject({ invocations: 1 });
    expect(runtime.stats('slow')).toMatchObject({ coldStarts: 2, invocations: 2, environments: 1 });
  });

  it('fails an invocation whose environment crashes mid-flight, then cold-starts with fresh module state', async () => {
    // Prepare
    const lines: string[] = [];
    const runtime = runtimeFactory([functionSpecFactory('victim', 'sleeper', { timeoutSeconds: 10 })], { onLogLine: (_name, line) => lines.push(line) });
    expect(payloadOf(await runtime.invoke('victim', { sleepMs: 0 }))).toMatchObject({ invocations: 1 });

    // Act
    const inFlight = runtime.invoke('victim', { sleepMs: 5_000, label: 'doomed' });
    await waitUntil(() => lines.includes('sleeping doomed for 5000 ms'), 'the doomed invocation to start');
    await runtime.crash('victim');
    const crashed = await inFlight;
    const next = await runtime.invoke('victim', { sleepMs: 0 });

    // Assess
    expect(crashed).toStrictEqual({ ok: false, errorType: 'Runtime.ExitError', errorMessage: 'execution environment crashed', durationMs: expect.any(Number) });
    expect(crashed.durationMs).toBeLessThan(5_000);
    expect(payloadOf(next)).toMatchObject({ invocations: 1 });
    expect(runtime.stats('victim')).toMatchObject({ coldStarts: 2, invocations: 3, environments: 1 });
  });

  it('fails an invocation whose function exits its environment, then cold-starts with fresh module state', async () => {
    // Prepare
    const runtime = runtimeFactory([functionSpecFactory('exiter', 'exiter')]);
    expect(payloadOf(await runtime.invoke('exiter', {}))).toStrictEqual({ invocations: 1 });

    // Act
    const exited = await runtime.invoke('exiter', { exitCode: 3 });
    const next = await runtime.invoke('exiter', {});

    // Assess
    expect(exited).toStrictEqual({ ok: false, errorType: 'Runtime.ExitError', errorMessage: 'execution environment exited with code 3', durationMs: expect.any(Number) });
    expect(payloadOf(next)).toStrictEqual({ invocations: 1 });
    expect(runtime.stats('exiter')).toMatchObject({ coldStarts: 2, invocations: 3, environments: 1 });
  });

  it('runs concurrent invocations of one function in separate execution environments, at the same time', async () => {
    // Prepare
    const runtime = runtimeFactory([functionSpecFactory('parallel', 'sleeper')]);

    // Act
    const results = await Promise.all(['a', 'b', 'c'].map((label) => runtime.invoke('parallel', { sleepMs: 400, label })));

    // Assess: three workers (thread ids measured inside them), each a fresh module scope, overlapping in time
    const payloads = results.map((result) => payloadOf(result) as { label: string; invocations: number; concurrent: number; threadId: number; startedAt: number; endedAt: number });
    expect(payloads.map(({ label, invocations, concurrent }) => ({ label, invocations, concurrent }))).toStrictEqual([
      { label: 'a', invocations: 1, concurrent: 1 },
      { label: 'b', invocations: 1, concurrent: 1 },
      { label: 'c', invocations: 1, concurrent: 1 },
    ]);
    expect(new Set(payloads.map((payload) => payload.threadId)).size).toBe(3);
    const lastStart = Math.max(...payloads.map((payload) => payload.startedAt));
    const firstEnd = Math.min(...payloads.map((payload) => payload.endedAt));
    expect(lastStart).toBeLessThan(firstEnd);
    expect(runtime.stats('parallel')).toStrictEqual({ coldStarts: 3, invocations: 3, environments: 3, peakConcurrency: 3 });
  });

  it('runs an invocation in a free environment, warm, and starts a new one only when all are busy', async () => {
    // Prepare: two environments, both idle again
    const runtime = runtimeFactory([functionSpecFactory('pool', 'sleeper')]);
    await Promise.all([runtime.invoke('pool', { sleepMs: 200 }), runtime.invoke('pool', { sleepMs: 200 })]);

    // Act
    const sequential = [await runtime.invoke('pool', { sleepMs: 0 }), await runtime.invoke('pool', { sleepMs: 0 })];
    const together = await Promise.all([1, 2, 3].map(() => runtime.invoke('pool', { sleepMs: 200 })));

    // Assess: the sequential ones reused one warm environment; three at once needed a third
    const sequentialPayloads = sequential.map((result) => payloadOf(result) as { threadId: number; invocations: number });
    expect(sequentialPayloads[0]!.threadId).toBe(sequentialPayloads[1]!.threadId);
    expect(sequentialPayloads[1]!.invocations).toBe(sequentialPayloads[0]!.invocations + 1);
    expect(new Set(together.map((result) => (payloadOf(result) as { threadId: number }).threadId)).size).toBe(3);
    expect(runtime.stats('pool')).toStrictEqual({ coldStarts: 3, invocations: 7, environments: 3, peakConcurrency: 3 });
  });

  it('with maxEnvironmentsPerFunction, makes invocations past the limit wait for a free environment', async () => {
    // Prepare
    const runtime = runtimeFactory([functionSpecFactory('limited', 'sleeper')], { maxEnvironmentsPerFunction: 1 });

    // Act
    const results = await Promise.all(['a', 'b', 'c'].map((label) => runtime.invoke('limited', { sleepMs: 150, label })));

    // Assess: one environment, in the order they came, one after the other
    const payloads = results.map((result) => payloadOf(result) as { label: string; invocations: number; startedAt: number; endedAt: number });
    expect(payloads.map(({ label, invocations }) => ({ label, invocations }))).toStrictEqual([
      { label: 'a', invocations: 1 },
      { label: 'b', invocations: 2 },
      { label: 'c', invocations: 3 },
    ]);
    for (let index = 1; index < payloads.length; index += 1) {
      expect(payloads[index]!.startedAt).toBeGreaterThanOrEqual(payloads[index - 1]!.endedAt);
    }
    expect(runtime.stats('limited')).toStrictEqual({ coldStarts: 1, invocations: 3, environments: 1, peakConcurrency: 1 });
  });

  it('crashes only the environments running the invocations a filter picks; the others carry on', async () => {
    // Prepare
    const lines: string[] = [];
    const runtime = runtimeFactory([functionSpecFactory('shared', 'sleeper', { timeoutSeconds: 10 })], { onLogLine: (_name, line) => lines.push(line) });
    const doomed = runtime.invoke('shared', { sleepMs: 1_000, label: 'doomed' });
    const survivor = runtime.invoke('shared', { sleepMs: 1_000, label: 'survivor' });
    await waitUntil(() => lines.includes('sleeping doomed for 1000 ms') && lines.includes('sleeping survivor for 1000 ms'), 'both invocations to start');

    // Act
    const crashed = await runtime.crash('shared', (event) => (event as { label?: string }).label === 'doomed');

    // Assess
    expect(crashed).toBe(1);
    expect(await doomed).toStrictEqual({ ok: false, errorType: 'Runtime.ExitError', errorMessage: 'execution environment crashed', durationMs: expect.any(Number) });
    expect(payloadOf(await survivor)).toMatchObject({ label: 'survivor', invocations: 1 });
    expect(runtime.stats('shared')).toMatchObject({ coldStarts: 2, invocations: 2, environments: 1 });
  });

  it('runs different functions at the same time', async () => {
    // Prepare
    const runtime = runtimeFactory([functionSpecFactory('left', 'sleeper'), functionSpecFactory('right', 'sleeper')]);
    await Promise.all([runtime.invoke('left', { sleepMs: 0 }), runtime.invoke('right', { sleepMs: 0 })]);

    // Act
    const [left, right] = await Promise.all([runtime.invoke('left', { sleepMs: 400 }), runtime.invoke('right', { sleepMs: 400 })]);

    // Assess
    const a = payloadOf(left) as { startedAt: number; endedAt: number };
    const b = payloadOf(right) as { startedAt: number; endedAt: number };
    expect(b.startedAt).toBeLessThan(a.endedAt);
    expect(a.startedAt).toBeLessThan(b.endedAt);
  });

  it('sends every line a function prints to onLogLine and to <logDirectory>/<function>.log', async () => {
    // Prepare
    const directory = mkdtempSync(join(tmpdir(), 'watershed-runtime-logs-'));
    const lines: [string, string][] = [];
    const runtime = runtimeFactory([functionSpecFactory('alpha', 'echo'), functionSpecFactory('beta', 'echo')], {
      logDirectory: join(directory, 'logs'),
      onLogLine: (functionName, line) => lines.push([functionName, line]),
    });
    try {
      // Act
      await runtime.invoke('alpha', {});
      await runtime.invoke('alpha', {});
      await runtime.invoke('beta', {});
      await waitUntil(() => lines.length >= 3, 'three log lines');
      await runtime.stop();

      // Assess
      expect(lines).toStrictEqual([
        ['alpha', 'echo alpha invocation 1'],
        ['alpha', 'echo alpha invocation 2'],
        ['beta', 'echo beta invocation 1'],
      ]);
      expect(readFileSync(join(directory, 'logs', 'alpha.log'), 'utf8')).toBe('echo alpha invocation 1\necho alpha invocation 2\n');
      expect(readFileSync(join(directory, 'logs', 'beta.log'), 'utf8')).toBe('echo beta invocation 1\n');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('tells observers attached after the start of every settled invocation, with onInvoked, until they detach', async () => {
    // Prepare
    const fromOption: [string, unknown, boolean][] = [];
    const observed: [string, unknown, boolean, number][] = [];
    const runtime = runtimeFactory([functionSpecFactory('alpha', 'echo'), functionSpecFactory('failing', 'thrower')], {
      onInvoked: (functionName, event, result) => fromOption.push([functionName, event, result.ok]),
    });
    const detach = runtime.observeInvocations((functionName, event, result) => observed.push([functionName, event, result.ok, result.durationMs]));

    // Act
    await runtime.invoke('alpha', { n: 1 });
    await runtime.invoke('failing', { n: 2 });
    detach();
    await runtime.invoke('alpha', { n: 3 });

    // Assess
    expect(observed.map(([functionName, event, ok]) => [functionName, event, ok])).toStrictEqual([
      ['alpha', { n: 1 }, true],
      ['failing', { n: 2 }, false],
    ]);
    for (const [, , , durationMs] of observed) expect(durationMs).toBeGreaterThanOrEqual(0);
    expect(fromOption).toStrictEqual([
      ['alpha', { n: 1 }, true],
      ['failing', { n: 2 }, false],
      ['alpha', { n: 3 }, true],
    ]);
  });

  it('refuses to invoke a function it does not run, naming the ones it does', () => {
    // Prepare
    const runtime = runtimeFactory([functionSpecFactory('alpha', 'echo'), functionSpecFactory('beta', 'echo')]);

    // Act
    const act = () => runtime.invoke('gamma', {});

    // Assess
    expect(act).toThrow('Function not found: gamma. Known functions: alpha, beta');
  });
});
