import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_STATE_DIRECTORY, readLocalCloudState } from '../contracts/local-cloud';
import { IcebergTable } from '../lakehouse/iceberg/table';
import { S3ObjectStore } from '../lakehouse/s3-object-store';
import { LAKEHOUSE_TABLE_NAMES, type LakehouseTableName } from '../lakehouse/tables';
import { STACK_NAME } from '../lib/names';
import { localClientConfig } from '../local/clients';

/** A usage or setup problem the user fixes by changing the command (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A problem finding the lakehouse (exit code 1). */
export class LakehouseNotFoundError extends Error {
  override readonly name = 'LakehouseNotFoundError';
}

export interface Lakehouse {
  store: S3ObjectStore;
  warehousePath: string;
  /** Where query copies of data files are kept. */
  cacheDirectory: string;
  open(table: LakehouseTableName): Promise<IcebergTable>;
  close(): void;
}

/** `market_ticks` -> the name, or a UsageError naming the tables there are. */
export function tableName(value: string | undefined): LakehouseTableName {
  if (value !== undefined && (LAKEHOUSE_TABLE_NAMES as string[]).includes(value)) return value as LakehouseTableName;
  throw new UsageError(`${value === undefined ? 'a table is required' : `unknown table ${JSON.stringify(value)}`}: the lakehouse tables are ${LAKEHOUSE_TABLE_NAMES.join(', ')}`);
}

/**
 * The lakehouse of the running local cloud, found through `.watershed/local-cloud.json` and its
 * outputs file (LakehouseWarehousePath).
 */
export function findLakehouse(stateDirectory = DEFAULT_STATE_DIRECTORY): Lakehouse {
  const state = readLocalCloudState(stateDirectory);
  if (state === undefined) {
    throw new LakehouseNotFoundError(
      `no local cloud is running (no live ${join(stateDirectory, 'local-cloud.json')}): start one with \`npm start\`, or pass --state-dir with the directory it uses. ` +
        'Querying the AWS deployment (through Athena) is not implemented in this tool yet; use the LakehouseWorkGroup output in the Athena console.',
    );
  }
  const outputs = (JSON.parse(readFileSync(state.outputsFile, 'utf8')) as Record<string, Record<string, string>>)[STACK_NAME] ?? {};
  const warehousePath = outputs.LakehouseWarehousePath;
  if (warehousePath === undefined) throw new LakehouseNotFoundError(`the outputs in ${state.outputsFile} have no LakehouseWarehousePath: the running stack has no lakehouse`);
  const store = new S3ObjectStore(localClientConfig(state.edgeUrl));
  return {
    store,
    warehousePath,
    cacheDirectory: join(stateDirectory, 'lake-cache'),
    open: (table) => IcebergTable.load(store, `${warehousePath}/${table}`),
    close: () => store.destroy(),
  };
}

/** The value after `--name`, or undefined; a missing value is a UsageError. */
export function optionValue(argv: string[], name: string): string | undefined {
  const index = argv.indexOf(name);
  if (index === -1) return undefined;
  const value = argv[index + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return value;
}
