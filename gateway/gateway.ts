import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { GATEWAY_METRICS } from '../contracts/market-data-gateway';
import { GatewayMetrics } from './metrics';
import { RestPoller } from './rest/poller';
import type { GatewaySettings } from './settings';
import { DeadLetterSink } from './sink/dead-letters';
import { KinesisTickSink } from './sink/kinesis-sink';

export interface GatewayClients {
  kinesis: KinesisClient;
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
}

/** A FIX session as the gateway runs it (gateway/fix/); started and stopped with the gateway. */
export interface GatewaySource {
  start(): Promise<void> | void;
  stop(): Promise<void>;
}

export type FixSourceFactory = (gateway: Gateway) => GatewaySource[];

/**
 * The gateway: every configured source (FIX sessions, REST feeds) into one tick sink and one
 * dead-letter sink. I/O clients are injected, so tests run it in-process against the local cloud.
 */
export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly sink: KinesisTickSink;
  readonly deadLetters: DeadLetterSink;
  readonly pollers: RestPoller[];
  private readonly sources: GatewaySource[];

  constructor(
    readonly settings: GatewaySettings,
    readonly clients: GatewayClients,
    options: { log?: (message: string) => void; metrics?: GatewayMetrics; fixSources?: FixSourceFactory; env?: Record<string, string | undefined> } = {},
  ) {
    const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`));
    this.metrics = options.metrics ?? new GatewayMetrics();
    const { config } = settings;
    this.sink = new KinesisTickSink({
      kinesis: clients.kinesis,
      streamName: settings.streamName,
      batchSize: config.batchSize,
      batchDelayMs: config.batchDelayMs,
      onPublished: (ticks) => {
        for (const tick of ticks) this.metrics.count(GATEWAY_METRICS.ticks, tick.source);
      },
      log,
    });
    this.deadLetters = new DeadLetterSink({
      sqs: clients.sqs,
      queueUrl: settings.deadLetterQueueUrl,
      onSent: (letter) => this.metrics.count(GATEWAY_METRICS.deadLetters, letter.source),
      log,
    });
    this.pollers = config.restFeeds.map((feed) => new RestPoller(feed, {
      publish: (ticks) => this.sink.publish(ticks),
      deadLetter: (reject, source, raw) => this.deadLetters.send(reject, source, raw),
      maxPrice: config.maxPrice,
      env: options.env,
      log: (message) => {
        this.metrics.count(GATEWAY_METRICS.restPollFailures, `rest:${feed.name}`);
        log(message);
      },
    }));
    this.sources = options.fixSources?.(this) ?? [];
  }

  async start(): Promise<void> {
    this.metrics.start();
    for (const poller of this.pollers) poller.start();
    for (const source of this.sources) await source.start();
  }

  /** Stops polling, logs the FIX sessions out, and waits until every accepted tick is on the stream. */
  async stop(): Promise<void> {
    await Promise.all([...this.pollers.map((poller) => poller.stop()), ...this.sources.map((source) => source.stop())]);
    await this.sink.drain();
    this.metrics.stop();
  }
}
