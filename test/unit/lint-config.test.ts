import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The lint configuration's own rules for tests, checked on a JavaScript probe: the rule is
// the same for .ts files, and a .js file needs no type information, so this takes a second.
async function ruleIdsFor(code: string): Promise<(string | null)[]> {
  const eslint = new ESLint({ cwd: process.cwd() });
  const [result] = await eslint.lintText(code, { filePath: 'test/unit/probe.test.js' });
  return result!.messages.map((message) => message.ruleId);
}

/**
 * A line calling a test function with a modifier, e.g. `describe` + `only`. Built from parts so
 * this file itself holds no focused or skipped test for a text search to trip over.
 */
const modified = (fn: string, modifier: string, args: string): string => `${fn}.${modifier}(${args});`;

describe('eslint.config.mjs', () => {
  it('rejects focused and skipped tests', async () => {
    const code = [
      "const { describe, it, test } = require('vitest');",
      modified('describe', 'only', "'a', () => {}"),
      modified('it', 'skip', "'b', () => {}"),
      modified('test', 'todo', "'c'"),
      '',
    ].join('\n');
    expect(await ruleIdsFor(code)).toStrictEqual(['no-restricted-properties', 'no-restricted-properties', 'no-restricted-properties']);
  });

  it('allows a conditional skip, which CI turns into a failure', async () => {
    const code = [
      "const { describe, it } = require('vitest');",
      'const java = { available: false };',
      "describe.skipIf(!java.available)('a', () => { it('b', () => {}); });",
      '',
    ].join('\n');
    expect(await ruleIdsFor(code)).toStrictEqual([]);
  });
});
