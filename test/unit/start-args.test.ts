import { describe, expect, it } from 'vitest';
import { parseStartArgs, START_HELP, StartUsageError } from '../../local/cli';

describe('npm start arguments', () => {
  it("defaults to LocalStack's port, kinesalite, in-memory data and the simulator on", () => {
    expect(parseStartArgs([])).toStrictEqual({
      port: 4566,
      dashboardPort: 3000,
      persistDirectory: undefined,
      kinesisEngine: 'kinesalite',
      shards: 1,
      simulate: true,
      rate: 200,
      duplicates: 0.01,
      late: 0.005,
      malformed: 0.005,
      orderRate: 20,
    });
  });

  it.each([
    [['--persist'], { persistDirectory: '.watershed/data' }],
    [['--persist', '/tmp/data'], { persistDirectory: '/tmp/data' }],
    [['--no-simulate'], { simulate: false }],
    [['--port', '0'], { port: 0 }],
    [['--dashboard-port', '0'], { dashboardPort: 0 }],
    [['--kinesis-engine', 'kinesis-local'], { kinesisEngine: 'kinesis-local' }],
    [['--rate', '1000', '--late', '0'], { rate: 1000, late: 0 }],
    [['--shards', '4'], { shards: 4 }],
    [['--order-rate', '200'], { orderRate: 200 }],
    [['--fix', 'fix.example.com:9880'], { fix: { host: 'fix.example.com', port: 9880, senderCompId: undefined, targetCompId: undefined } }],
    [['--fix', '10.0.0.5:5001', '--fix-sender', 'ME', '--fix-target', 'THEM'], { fix: { host: '10.0.0.5', port: 5001, senderCompId: 'ME', targetCompId: 'THEM' } }],
  ])('reads %j', (argv, expected) => {
    expect(parseStartArgs(argv)).toMatchObject(expected);
  });

  it('answers --help', () => {
    expect(parseStartArgs(['--help'])).toBe('help');
  });

  it('lists every flag in --help, with its default', () => {
    for (const flag of ['--port', '--dashboard-port', '--persist', '--kinesis-engine', '--shards', '--no-simulate', '--rate', '--duplicates', '--late', '--malformed', '--help']) {
      expect(START_HELP).toContain(flag);
    }
    expect(START_HELP).toMatch(/--shards N .*\(default 1\)/);
  });

  it.each([
    [['--port', '70000'], '--port must be an integer between 0 and 65535. Received 70000'],
    [['--dashboard-port', '3000.5'], '--dashboard-port must be an integer between 0 and 65535. Received 3000.5'],
    [['--rate', 'fast'], '--rate must be a number between 1 and 20000. Received fast'],
    [['--duplicates', '2'], '--duplicates must be a number between 0 and 1. Received 2'],
    [['--kinesis-engine', 'kafka'], '--kinesis-engine must be one of kinesalite, kinesis-local. Received kafka'],
    [['--shards', '0'], '--shards must be an integer between 1 and 64. Received 0'],
    [['--shards', '2.5'], '--shards must be an integer between 1 and 64. Received 2.5'],
    [['stray'], 'Unexpected argument: stray'],
    [['--fix', 'localhost'], '--fix must be HOST:PORT with a port from 1 to 65535. Received localhost'],
    [['--fix', 'h:0'], '--fix must be HOST:PORT with a port from 1 to 65535. Received h:0'],
    [['--fix-sender', 'ME'], '--fix-sender and --fix-target go with --fix HOST:PORT (the external acceptor)'],
  ])('rejects %j with a message that names the value', (argv, message) => {
    expect(() => parseStartArgs(argv)).toThrow(new StartUsageError(message));
  });

  it('rejects unknown flags', () => {
    expect(() => parseStartArgs(['--verbose'])).toThrow(StartUsageError);
  });
});
