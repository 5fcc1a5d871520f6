import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { WrittenFiles } from '../../lakehouse/iceberg/writer';
import { S3ObjectStore } from '../../lakehouse/s3-object-store';
import { localClientConfig } from '../clients';
import type { ProvisionedStack } from '../cloudformation/provision';
import { LocalDeliveryStream } from './delivery-stream';

export { LocalDeliveryStream, checkpointProperty, type FirehoseErrorRecord } from './delivery-stream';
export type { DeliveryStreamSpec, IcebergTableSpec } from './lakehouse-resources';

/** Fault injection for tests: `beforeCommit(streamName, files)` runs after data files are written and before the commit. */
export interface DeliveryStreamFaults {
  beforeCommit?: (deliveryStreamName: string, files: WrittenFiles) => Promise<void>;
}

/** Starts a local Firehose stand-in for each delivery stream of the provisioned template. */
export async function startDeliveryStreams(
  stack: ProvisionedStack,
  options: { edgeUrl: string; kinesis: KinesisClient; sqs: SQSClient; log: (message: string) => void; faults?: DeliveryStreamFaults },
): Promise<LocalDeliveryStream[]> {
  const started: LocalDeliveryStream[] = [];
  for (const spec of stack.deliveryStreams) {
    const table = stack.icebergTables.find((candidate) => candidate.database === spec.database && candidate.name === spec.table);
    if (table === undefined) {
      options.log(`delivery stream ${spec.name}: table ${spec.database}.${spec.table} is not an Iceberg table of the template; not started`);
      continue;
    }
    const store = new S3ObjectStore(localClientConfig(options.edgeUrl));
    const beforeCommit = options.faults?.beforeCommit;
    const stream = new LocalDeliveryStream(spec, table.location, {
      kinesis: options.kinesis,
      sqs: options.sqs,
      store,
      log: options.log,
      ...(beforeCommit === undefined ? {} : { beforeCommit: (files: WrittenFiles) => beforeCommit(spec.name, files) }),
    });
    await stream.start();
    started.push(stream);
  }
  return started;
}
