import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConfigurationError } from '../../contracts/aggregator-settings';
import { DEFAULT_SCORING_CONFIG, ScoringConfig } from '../../contracts/fraud';
import { CONFIG_POINTER_ID, ConfigPointerItem, ConfigVersionItem, configVersionId } from '../../contracts/fraud-settings';
import type { ScoringConfigs } from './core/plan';

/** A configuration version that does not exist or does not validate. */
export class ScoringConfigError extends ConfigurationError {
  override name = 'ScoringConfigError';
}

const describeIssues = (error: { issues: { path: PropertyKey[]; message: string }[] }) =>
  error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`).join('; ');

/** Parses a configuration's JSON text; the error names every problem. */
export function parseScoringConfig(text: string, source: string): ScoringConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ScoringConfigError(`${source} is not JSON: ${(error as Error).message}`);
  }
  const parsed = ScoringConfig.safeParse(json);
  if (!parsed.success) throw new ScoringConfigError(`${source} is not a valid scoring configuration: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/**
 * The scoring configuration, read from the configuration table and cached for `maxAgeMs`: a small
 * stand-in for Powertools Parameters' DynamoDBProvider with `maxAge`. The pointer item names the
 * active and shadow versions; version items never change, so each is read once per container.
 * With no pointer the built-in DEFAULT_SCORING_CONFIG is active. A pointer that names a missing or
 * invalid version keeps the last good configuration (logged), or fails if there is none.
 */
export class ScoringConfigSource {
  private cached: { configs: ScoringConfigs; readAtMs: number } | undefined;
  private readonly versions = new Map<string, ScoringConfig>();

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly maxAgeMs: number,
    private readonly onStaleConfig: (error: Error) => void = () => undefined,
  ) {}

  async current(nowMs: number): Promise<ScoringConfigs> {
    if (this.cached !== undefined && nowMs - this.cached.readAtMs < this.maxAgeMs) return this.cached.configs;
    try {
      const configs = await this.read();
      this.cached = { configs, readAtMs: nowMs };
      return configs;
    } catch (error) {
      if (this.cached === undefined || !(error instanceof ScoringConfigError)) throw error;
      this.onStaleConfig(error);
      // Keep scoring with the last good configuration; try again after another max age.
      this.cached = { ...this.cached, readAtMs: nowMs };
      return this.cached.configs;
    }
  }

  private async read(): Promise<ScoringConfigs> {
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.tableName, Key: { id: CONFIG_POINTER_ID }, ConsistentRead: true }));
    if (Item === undefined) return { active: DEFAULT_SCORING_CONFIG, shadows: [] };
    const pointer = ConfigPointerItem.safeParse(Item);
    if (!pointer.success) throw new ScoringConfigError(`the configuration pointer is invalid: ${describeIssues(pointer.error)}`);
    const [active, ...shadows] = await Promise.all([pointer.data.active, ...pointer.data.shadows].map((version) => this.version(version)));
    return { active: active!, shadows };
  }

  private async version(modelVersion: string): Promise<ScoringConfig> {
    const known = this.versions.get(modelVersion);
    if (known !== undefined) return known;
    if (modelVersion === DEFAULT_SCORING_CONFIG.modelVersion) return DEFAULT_SCORING_CONFIG;
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.tableName, Key: { id: configVersionId(modelVersion) }, ConsistentRead: true }));
    if (Item === undefined) throw new ScoringConfigError(`configuration version ${modelVersion} is named by the pointer but does not exist`);
    const config = parseScoringConfig(String(Item.config), `configuration version ${modelVersion}`);
    if (config.modelVersion !== modelVersion) throw new ScoringConfigError(`configuration item ${modelVersion} holds modelVersion ${config.modelVersion}`);
    this.versions.set(modelVersion, config);
    return config;
  }
}

/**
 * Stores a new version. Versions are immutable: storing a version again with other content fails,
 * so a decision's modelVersion always names exactly the configuration that made it.
 */
export async function putConfigVersion(ddb: DynamoDBDocumentClient, tableName: string, config: ScoringConfig, nowMs = Date.now()): Promise<'created' | 'unchanged'> {
  const text = JSON.stringify(config);
  const item: ConfigVersionItem = { id: configVersionId(config.modelVersion), modelVersion: config.modelVersion, config: text, createdAt: new Date(nowMs).toISOString() };
  try {
    await ddb.send(new PutCommand({ TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(id)' }));
    return 'created';
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    const { Item } = await ddb.send(new GetCommand({ TableName: tableName, Key: { id: item.id }, ConsistentRead: true }));
    if (Item !== undefined && JSON.stringify(ScoringConfig.parse(JSON.parse(String(Item.config)))) === text) return 'unchanged';
    throw new ScoringConfigError(`configuration version ${config.modelVersion} already exists with other content; give the new one another modelVersion`);
  }
}

/** Points the scorer at an active version and shadow versions; each must exist (or be the built-in default). */
export async function activateConfig(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  selection: { active: string; shadows: string[] },
  nowMs = Date.now(),
): Promise<ConfigPointerItem> {
  for (const version of [selection.active, ...selection.shadows]) {
    if (version === DEFAULT_SCORING_CONFIG.modelVersion) continue;
    const { Item } = await ddb.send(new GetCommand({ TableName: tableName, Key: { id: configVersionId(version) }, ConsistentRead: true }));
    if (Item === undefined) throw new ScoringConfigError(`configuration version ${version} does not exist; store it first (fraud config put FILE)`);
  }
  const pointer: ConfigPointerItem = { id: CONFIG_POINTER_ID, active: selection.active, shadows: selection.shadows, updatedAt: new Date(nowMs).toISOString() };
  await ddb.send(new PutCommand({ TableName: tableName, Item: pointer }));
  return pointer;
}

/** The pointer as stored, or undefined when the built-in default is active. */
export async function readConfigPointer(ddb: DynamoDBDocumentClient, tableName: string): Promise<ConfigPointerItem | undefined> {
  const { Item } = await ddb.send(new GetCommand({ TableName: tableName, Key: { id: CONFIG_POINTER_ID }, ConsistentRead: true }));
  return Item === undefined ? undefined : ConfigPointerItem.parse(Item);
}
