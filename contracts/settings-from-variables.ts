import type * as z from 'zod';
import { ConfigurationError } from './aggregator-settings';

/**
 * Reads each key of `schema` from its environment variable in `variables`. Fails fast and names
 * every missing or invalid variable, so a misconfigured function fails at cold start. The caller
 * passes the environment (Lambda glue passes `process.env`): contracts never read it themselves,
 * because the web bundle imports them.
 */
export function settingsFromVariables<S extends z.ZodObject>(
  schema: S,
  variables: Readonly<Record<string, string>>,
  what: string,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<S> {
  const raw = Object.fromEntries(
    Object.keys(schema.shape).map((key) => {
      const variable = variables[key];
      return [key, variable === undefined || env[variable] === '' ? undefined : env[variable]];
    }),
  );
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `${variables[key] ?? key}: ${issue.message}`;
    });
    throw new ConfigurationError(`Invalid ${what} configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
