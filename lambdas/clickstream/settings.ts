import { AggregatorEnv, AggregatorSettings } from '../../contracts/aggregator-settings';
import { settingsFromVariables } from '../../contracts/settings-from-variables';

/** Fails fast and names every missing or invalid variable. */
export function aggregatorSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AggregatorSettings {
  return settingsFromVariables(AggregatorSettings, AggregatorEnv, 'aggregator', env);
}
