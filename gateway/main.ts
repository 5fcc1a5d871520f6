import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Gateway } from './gateway';
import { fixSessionsOf } from './fix/sources';
import { GatewaySettingsError, readGatewaySettings } from './settings';

/**
 * The gateway process: the container's command on AWS (ECS Fargate) and the supervised process
 * the local cloud starts from the same task definition. SIGTERM (ECS stopping the task, Ctrl-C
 * locally) logs the FIX sessions out and drains the sink before exiting.
 */
const HELP = `Usage: node --import tsx gateway/main.ts [--config FILE]

Runs the market-data gateway with the configuration in GATEWAY_CONFIG (JSON) or FILE.
Environment: GATEWAY_CONFIG, MARKET_DATA_STREAM_NAME, GATEWAY_SESSION_TABLE_NAME,
GATEWAY_DEAD_LETTER_QUEUE_URL, AWS_* (AWS_ENDPOINT_URL for the local cloud).

Options
  --config FILE   gateway configuration (contracts/market-data-gateway.ts)   (default: GATEWAY_CONFIG)
  -h, --help      show this help`;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let settings;
  try {
    settings = readGatewaySettings(process.env, values.config);
  } catch (error) {
    if (error instanceof GatewaySettingsError) {
      process.stderr.write(`gateway: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const clients = { kinesis: new KinesisClient({}), dynamodb: new DynamoDBClient({}), sqs: new SQSClient({}) };
  const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);
  const gateway = new Gateway(settings, clients, { log, fixSources: fixSessionsOf });
  await gateway.start();
  log(`gateway started: ${settings.config.fixSessions.length} FIX session(s), ${settings.config.restFeeds.length} REST feed(s) -> ${settings.streamName}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log('stopping: logging out and draining the sink');
  await gateway.stop();
  log('stopped');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`gateway failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
