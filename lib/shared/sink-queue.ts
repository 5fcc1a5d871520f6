import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** SQS's longest retention: the time operators have to inspect a sink and replay what it holds. */
export const SQS_MAX_RETENTION = Duration.days(14);

export interface SinkQueueOptions {
  readonly removalPolicy: RemovalPolicy;
  /** What the queue holds, for the cdk-nag acknowledgement, e.g. `invalid click records`. */
  readonly holds: string;
}

/**
 * A terminal sink queue (dead letters, late events, ranges an event source mapping gave up on):
 * SQS-managed encryption, TLS only, the maximum 14 days to inspect and replay. It has no
 * dead-letter queue of its own, which cdk-nag's SQS3 asks for; the acknowledgement says why.
 */
export function sinkQueue(scope: Construct, id: string, options: SinkQueueOptions): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: SQS_MAX_RETENTION,
    removalPolicy: options.removalPolicy,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      `This queue is itself a terminal sink (${options.holds}) that operators inspect and replay, alarmed on ` +
      'its depth. Nothing receives from it automatically, so there is no failed receive to redrive to a further queue.',
  });
  return queue;
}

/** Alarms as soon as anything waits in the queue: a sink is empty when all is well. */
export function queueDepthAlarm(scope: Construct, id: string, queue: sqs.IQueue, description: string): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription: description,
    metric: queue.metricApproximateNumberOfMessagesVisible({
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(1),
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
