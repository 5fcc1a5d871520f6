import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { HELP_TEXT, UsageError, main, parseSimulatorArgs } from '../../simulator/cli';

describe('parseSimulatorArgs', () => {
  it('applies the defaults', () => {
    // Act
    const parsed = parseSimulatorArgs(['clicks']);

    // Assess
    expect(parsed).toStrictEqual({
      command: 'clicks',
      options: {
        rate: 500,
        durationSeconds: 60,
        target: 'local',
        duplicates: 0,
        late: 0,
        lateByMs: 300_000,
        malformed: 0,
        disorderMs: 2_000,
        urls: 1_000,
        users: 5_000,
        zipf: 1.1,
      },
    });
  });

  it('parses every flag', () => {
    // Act
    const parsed = parseSimulatorArgs([
      'clicks',
      '--rate', '250.5',
      '--count', '1000',
      '--target', 'localstack',
      '--endpoint', 'http://127.0.0.1:4567',
      '--stream', 'clicks',
      '--outputs-file', 'out.json',
      '--region', 'eu-west-1',
      '--duplicates', '0.01',
      '--late', '0.02',
      '--late-by-ms', '600000',
      '--malformed', '0.03',
      '--disorder-ms', '500',
      '--urls', '50',
      '--users', '70',
      '--zipf', '0.9',
      '--seed', '4294967295',
    ]);

    // Assess
    expect(parsed).toStrictEqual({
      command: 'clicks',
      options: {
        rate: 250.5,
        count: 1000,
        target: 'localstack',
        endpoint: 'http://127.0.0.1:4567',
        stream: 'clicks',
        outputsFile: 'out.json',
        region: 'eu-west-1',
        duplicates: 0.01,
        late: 0.02,
        lateByMs: 600_000,
        malformed: 0.03,
        disorderMs: 500,
        urls: 50,
        users: 70,
        zipf: 0.9,
        seed: 4294967295,
      },
    });
  });

  it.each([['--help'], ['-h'], ['clicks', '--help']])('returns help for %s', (...argv) => {
    expect(parseSimulatorArgs(argv)).toStrictEqual({ command: 'help' });
  });

  it('documents every flag with its default in the help', () => {
    for (const flag of ['--rate', '--duration', '--count', '--target', '--endpoint', '--stream', '--outputs-file', '--region',
      '--duplicates', '--late', '--late-by-ms', '--malformed', '--disorder-ms', '--urls', '--users', '--zipf', '--seed', '--help']) {
      expect(HELP_TEXT).toContain(flag);
    }
    expect(HELP_TEXT.match(/\(default/g)?.length).toBeGreaterThanOrEqual(16);
  });

  it.each([
    [[], /Missing command/],
    [['views'], /Unknown command "views"/],
    [['clicks', 'extra'], /Unexpected arguments: extra/],
    [['clicks', '--bogus'], /Unknown option '--bogus'/],
    [['clicks', '--rate'], /--rate <value>' argument missing/],
    [['clicks', '--rate', '0'], /--rate must be greater than 0. Received 0/],
    [['clicks', '--rate', 'fast'], /--rate must be a number. Received "fast"/],
    [['clicks', '--rate', '0x10'], /--rate must be a number. Received "0x10"/],
    [['clicks', '--rate', ''], /--rate must be a number. Received ""/],
    [['clicks', '--duration', '-5'], /--duration/],
    [['clicks', '--duration=-5'], /--duration must be greater than 0. Received -5/],
    [['clicks', '--count', '2.5'], /--count must be an integer between 1 and/],
    [['clicks', '--duration', '10', '--count', '10'], /--duration and --count are exclusive/],
    [['clicks', '--target', 'gcp'], /--target must be one of local, localstack, aws. Received "gcp"/],
    [['clicks', '--endpoint', 'localhost:4566'], /--endpoint must be an http or https URL/],
    [['clicks', '--endpoint', 'not a url'], /--endpoint must be a URL/],
    [['clicks', '--duplicates', '1.5'], /--duplicates must be a fraction between 0 and 1. Received 1.5/],
    [['clicks', '--late', '0.6', '--malformed', '0.6'], /--duplicates \+ --late \+ --malformed must not exceed 1. Received 1.2/],
    [['clicks', '--late-by-ms', '60000'], /--late-by-ms must be an integer greater than .* Received 60000/],
    [['clicks', '--disorder-ms', '1.5'], /--disorder-ms must be an integer between 0 and/],
    [['clicks', '--urls', '0'], /--urls must be an integer between 1 and 10000000. Received 0/],
    [['clicks', '--zipf=-1'], /--zipf must be >= 0. Received -1/],
    [['clicks', '--seed', '4294967296'], /--seed must be an integer between 0 and 4294967295. Received 4294967296/],
    [['clicks', '--stream', ''], /--stream must not be empty/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseSimulatorArgs(argv)).toThrow(UsageError);
    expect(() => parseSimulatorArgs(argv)).toThrow(message);
  });
});

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

describe('main', () => {
  it('exits with code 2 and a clear message on invalid arguments', async () => {
    // Prepare
    const stdout = new Capture();
    const stderr = new Capture();

    // Act
    const code = await main(['clicks', '--rate', 'fast'], { stdout, stderr } as never);

    // Assess
    expect(code).toBe(2);
    expect(stderr.text).toBe('error: --rate must be a number. Received "fast"\nRun `npm run simulate -- --help` for the options.\n');
    expect(stdout.text).toBe('');
  });

  it('prints the help and exits 0', async () => {
    // Prepare
    const stdout = new Capture();
    const stderr = new Capture();

    // Act
    const code = await main(['--help'], { stdout, stderr } as never);

    // Assess
    expect(code).toBe(0);
    expect(stdout.text).toBe(`${HELP_TEXT}\n`);
  });

  it('exits with code 1 and says how to get a stream name when there is none', async () => {
    // Prepare
    const stdout = new Capture();
    const stderr = new Capture();

    // Act
    const code = await main(['clicks', '--count', '1', '--outputs-file', 'no/such/outputs.json'], { stdout, stderr } as never);

    // Assess
    expect(code).toBe(1);
    expect(stderr.text).toContain('no/such/outputs.json does not exist; run `npm start` first, or pass --stream');
  });
});
