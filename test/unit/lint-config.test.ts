import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The lint configuration's own rules for tests, checked on a JavaScript probe: the rule is
// the same for .ts files, and a .js file needs no type information, so this takes a second.
async function ruleIdsFor(code: string): Promise<(string | null)[]> {
  const eslint = new ESLint({ cwd: process.cwd() });
  const [result] = await eslint.lintText(code, { filePath: 'test/unit/probe.test.js' });
  return result!.messages.map((message) => message.ruleId);
}

describe('eslint.config.mjs', () => {
  it('rejects focused and skipped tests', async () => {
    const code = [
      "const { describe, it, test } = require('vitest');",
      "describe.only('a', () => {});",
      "it.skip('b', () => {});",
      "test.todo('c');",
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
