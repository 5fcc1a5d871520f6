import { Duration } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { DashboardEnv } from '../../contracts/dashboard-settings';
import { MarketPanel } from '../../lib/market-panel';
import { actionsOn, bareWatershed, listOf, statementsOfRole, type BareWatershed } from './first-deployment-support';
import { logicalIdOf, propsTestStack } from './support';

/** The market panel in the whole stack (no bundling): its function, mapping, table and grants. */

let watershed: BareWatershed;
beforeAll(() => {
  watershed = bareWatershed();
});

const panel = () => watershed.stack.marketPanel;
const resolve = (value: unknown) => watershed.stack.resolve(value);
const itemActions = (actions: string[]) => actions.filter((action) => /^dynamodb:(Get|Put|Update|Delete|Scan|Query|Batch|Transact|ConditionCheck)/.test(action));

describe('prices broadcaster mapping on the market-data stream', () => {
  it.each([
    ['EventSourceArn', () => resolve(watershed.stack.marketData.stream.streamArn)],
    ['BatchSize', () => 1000],
    ['MaximumBatchingWindowInSeconds', () => 1],
    ['StartingPosition', () => 'LATEST'],
    ['BisectBatchOnFunctionError', () => true],
    ['MaximumRetryAttempts', () => 3],
    ['MaximumRecordAgeInSeconds', () => 60],
    ['FunctionResponseTypes', () => ['ReportBatchItemFailures']],
    ['ParallelizationFactor', () => 1],
    ['DestinationConfig', () => ({ OnFailure: { Destination: resolve(panel().failedBatchQueue.queueArn) } })],
  ])('sets %s', (property, value) => {
    watershed.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: resolve(panel().broadcaster.functionName),
      [property]: value(),
    });
  });

  it('is the only mapping of the prices broadcaster', () => {
    const mappings = Object.values(watershed.template.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (mapping) => JSON.stringify(mapping.Properties.FunctionName) === JSON.stringify(resolve(panel().broadcaster.functionName)),
    );
    expect(mappings).toHaveLength(1);
  });
});

describe('quotes table', () => {
  it('is keyed (pk, symbol), on demand, with PITR, encrypted', () => {
    expect(watershed.template.toJSON().Resources[logicalIdOf(watershed.stack, panel().quotesTable)].Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'symbol', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });
});

describe('grants (least privilege)', () => {
  it('lets the broadcaster only UpdateItem quotes, Scan and DeleteItem connections, post to the stage, read the stream and decrypt with its key', () => {
    const { stack, template } = watershed;
    const statements = statementsOfRole(stack, template, panel().broadcaster.role!);
    expect(itemActions(actionsOn(stack, statements, panel().quotesTable.tableArn))).toStrictEqual(['dynamodb:UpdateItem']);
    expect(itemActions(actionsOn(stack, statements, stack.liveDashboard.connectionsTable.tableArn))).toStrictEqual(['dynamodb:DeleteItem', 'dynamodb:Scan']);
    expect(actionsOn(stack, statements, stack.marketData.stream.streamArn)).toContain('kinesis:GetRecords');
    expect(actionsOn(stack, statements, stack.marketData.streamKey.keyArn)).toContain('kms:Decrypt');
    expect(statements.some((statement) => listOf(statement.Action).includes('execute-api:ManageConnections'))).toBe(true);
    const everything = statements.flatMap((statement) => listOf(statement.Action));
    expect(everything.filter((action) => action.includes('*'))).toStrictEqual([]);
    const onStar = statements.filter((statement) => listOf(statement.Resource).includes('*')).flatMap((statement) => listOf(statement.Action));
    expect(onStar).toStrictEqual([]);
  });

  it('lets the connections function only Query the quotes table, and names it in its environment', () => {
    const { stack, template } = watershed;
    const connections = stack.liveDashboard.connectionsFunction;
    const statements = statementsOfRole(stack, template, connections.role!);
    expect(itemActions(actionsOn(stack, statements, panel().quotesTable.tableArn))).toStrictEqual(['dynamodb:Query']);
    const variables = template.toJSON().Resources[logicalIdOf(stack, connections)].Properties.Environment.Variables;
    expect(variables[DashboardEnv.quotesTableName]).toStrictEqual(resolve(panel().quotesTable.tableName));
  });

  it('gives the broadcaster its tables and the stage endpoint, on Node.js 22 ARM64', () => {
    const { stack, template } = watershed;
    const properties = template.toJSON().Resources[logicalIdOf(stack, panel().broadcaster)].Properties;
    expect(properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
    expect(properties.Environment.Variables).toMatchObject({
      [DashboardEnv.quotesTableName]: resolve(panel().quotesTable.tableName),
      [DashboardEnv.connectionsTableName]: resolve(stack.liveDashboard.connectionsTable.tableName),
    });
  });
});

describe('props', () => {
  it('rejects a throttle outside 0 to 300 whole seconds, naming the value', () => {
    const stack = propsTestStack();
    const watershedLike = bareWatershed().stack;
    expect(() => new MarketPanel(stack, 'Panel', {
      marketDataStream: watershedLike.marketData.stream,
      connectionsTable: watershedLike.liveDashboard.connectionsTable,
      stage: watershedLike.liveDashboard.stage,
      snapshotFunction: watershedLike.liveDashboard.connectionsFunction,
      throttle: Duration.minutes(6),
    })).toThrow('throttle must be a whole number of seconds between 0 and 300 seconds. Received 360 seconds');
  });
});
