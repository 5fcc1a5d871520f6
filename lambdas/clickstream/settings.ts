import { AggregatorEnv, AggregatorSettings, ConfigurationError } from '../../contracts/aggregator-settings';

/** Fails fast and names every missing or invalid variable. */
export function aggregatorSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AggregatorSettings {
  const raw = Object.fromEntries(
    Object.entries(AggregatorEnv).map(([key, variable]) => [key, env[variable] === '' ? undefined : env[variable]]),
  );
  const parsed = AggregatorSettings.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]) as keyof typeof AggregatorEnv;
      return `${AggregatorEnv[key] ?? key}: ${issue.message}`;
    });
    throw new ConfigurationError(`Invalid aggregator configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
