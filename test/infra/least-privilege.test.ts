import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FraudScorerEnv } from '../../contracts/fraud-settings';
import { AGGREGATOR_TABLE_ACTIONS } from '../../lib/clickstream-pipeline';
import { SCORER_TABLE_ACTIONS } from '../../lib/fraud-pipeline';
import { PROJECT_ROOT } from '../../lib/watershed-function';
import { actionsOn, type BareWatershed, bareWatershed, listOf, statementsOfRole } from './first-deployment-support';

let watershed: BareWatershed;
beforeAll(() => {
  watershed = bareWatershed();
});

/** DynamoDB item actions only (not the stream's or DescribeTable). */
const itemActions = (actions: string[]) => actions.filter((action) => /^dynamodb:(Get|Put|Update|Delete|Scan|Query|Batch|Transact|ConditionCheck)/.test(action));

/** The IAM action of each DynamoDB command class (lib-dynamodb's and client-dynamodb's names). */
const COMMAND_ACTIONS: Record<string, string> = {
  Get: 'dynamodb:GetItem',
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  Query: 'dynamodb:Query',
  Scan: 'dynamodb:Scan',
  BatchGet: 'dynamodb:BatchGetItem',
  BatchWrite: 'dynamodb:BatchWriteItem',
};

/** The DynamoDB command classes the TypeScript files of a folder import as values (not `type`). */
function dynamoCommandsImportedBy(folder: string): string[] {
  const files = readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  const names = files.flatMap((file) => {
    const source = readFileSync(path.join(folder, file), 'utf8');
    return [...source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/(?:lib|client)-dynamodb'/g)].flatMap((match) =>
      match[1]!.split(',').map((name) => name.trim()).filter((name) => /^[A-Za-z]+Command$/.test(name)),
    );
  });
  return [...new Set(names)].sort();
}

describe('the clickstream aggregator', () => {
  it('is granted only GetItem, Query and PutItem on each table: no Scan, BatchWriteItem, DeleteItem or UpdateItem', () => {
    const { stack, template } = watershed;
    const clickstream = stack.clickstream;
    const statements = statementsOfRole(stack, template, clickstream.aggregator.role!);
    for (const table of [clickstream.windowTable, clickstream.stateTable]) {
      expect(itemActions(actionsOn(stack, statements, table.tableArn))).toStrictEqual([...AGGREGATOR_TABLE_ACTIONS].sort());
    }
    const everything = statements.flatMap((statement) => listOf(statement.Action));
    for (const unused of ['dynamodb:Scan', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem']) {
      expect(everything).not.toContain(unused);
    }
  });

  it('is granted exactly the DynamoDB commands its code sends (lambdas/clickstream)', () => {
    const commands = dynamoCommandsImportedBy(path.join(PROJECT_ROOT, 'lambdas', 'clickstream'));
    expect(commands.length).toBeGreaterThan(0);
    const actions = commands.map((command) => {
      const action = COMMAND_ACTIONS[command.replace(/(Item)?Command$/, '')];
      // TransactWriteItems is authorised per item action: read the items before granting.
      expect(action, `${command}: map it to its IAM action(s) by hand`).toBeDefined();
      return action!;
    });
    expect([...new Set(actions)].sort()).toStrictEqual([...AGGREGATOR_TABLE_ACTIONS].sort());
  });
});

describe('the fraud scorer', () => {
  it('is granted on each table exactly the item actions its code sends, and only reads the configuration', () => {
    const { stack, template } = watershed;
    const fraud = stack.fraud;
    const statements = statementsOfRole(stack, template, fraud.scorer.role!);
    const tables = {
      [FraudScorerEnv.decisionsTableName]: fraud.decisionsTable,
      [FraudScorerEnv.profilesTableName]: fraud.profilesTable,
      [FraudScorerEnv.stateTableName]: fraud.stateTable,
      [FraudScorerEnv.configTableName]: fraud.configTable,
    };
    for (const [variable, table] of Object.entries(tables)) {
      expect(itemActions(actionsOn(stack, statements, table.tableArn)), variable).toStrictEqual(
        [...SCORER_TABLE_ACTIONS[variable as keyof typeof SCORER_TABLE_ACTIONS]].sort(),
      );
    }
    expect(itemActions(actionsOn(stack, statements, fraud.configTable.tableArn))).toStrictEqual(['dynamodb:GetItem']);
    const everything = statements.flatMap((statement) => listOf(statement.Action));
    for (const unused of ['dynamodb:Scan', 'dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:Query']) {
      expect(everything).not.toContain(unused);
    }
  });
});

describe('the web app deployment', () => {
  it('may create and read invalidations of its own distribution only, and nothing on Resource "*"', () => {
    const { stack, template } = watershed;
    const live = stack.liveDashboard;
    const statements = statementsOfRole(stack, template, live.deployment.handlerRole);
    const cloudfront = statements.filter((statement) => listOf(statement.Action).some((action) => action.startsWith('cloudfront:')));
    expect(cloudfront.flatMap((statement) => listOf(statement.Action)).sort()).toStrictEqual(['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation']);
    const distributionArn = JSON.stringify(stack.resolve(stack.formatArn({ service: 'cloudfront', region: '', resource: 'distribution', resourceName: live.distribution.distributionId })));
    for (const statement of cloudfront) expect(listOf(statement.Resource).map((r) => JSON.stringify(r))).toStrictEqual([distributionArn]);
    expect(statements.filter((statement) => listOf(statement.Resource).includes('*'))).toStrictEqual([]);
  });

  it('still invalidates /* of the distribution after each upload', () => {
    const { stack, template } = watershed;
    const [deployment] = Object.values(template.findResources('Custom::CDKBucketDeployment'));
    expect(deployment!.Properties).toMatchObject({
      DistributionId: stack.resolve(stack.liveDashboard.distribution.distributionId),
      DistributionPaths: ['/*'],
    });
  });
});
