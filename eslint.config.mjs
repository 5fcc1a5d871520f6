// ESLint for the whole repository: `npm run lint` (and `npm test`, which runs it).
// TypeScript is linted with type information (typescript-eslint reads tsconfig.json), so
// promise misuse is caught: a floating promise in a stream poller or a server handler loses
// errors silently, which is the class of bug this lint exists for.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Focused or skipped tests must never reach main: `.only` hides every other test, `.skip`
// and `.todo` hide one. Conditional skips (`describe.skipIf(!java.available)`) stay allowed:
// test/support/requirements.ts makes them fail in CI instead of skipping.
const TEST_FUNCTIONS = ['describe', 'it', 'test', 'suite'];
const focusedOrSkippedTests = TEST_FUNCTIONS.flatMap((object) =>
  ['only', 'skip', 'todo'].map((property) => ({
    object,
    property,
    message: `No focused or skipped tests on main: remove .${property}, or use .skipIf(condition) with a reason (test/support/requirements.ts).`,
  })),
);

// The few Node globals the plain CommonJS files use (no `globals` package is installed).
const NODE_COMMONJS_GLOBALS = Object.fromEntries(
  [
    'require', 'module', 'exports', '__dirname', '__filename', 'process', 'console', 'Buffer',
    'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'queueMicrotask',
    'URL', 'fetch', 'AbortController', 'TextEncoder', 'TextDecoder', 'structuredClone',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  {
    ignores: ['node_modules/', 'cdk.out/', '.watershed/', 'test-artifacts/', '.scratch/', 'web/dist/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // One program for tsconfig.json's files: about 20% faster than the project service
        // here, and a file outside tsconfig.json (which tsc would not check either) is an error.
        project: './tsconfig.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `async` without `await` is deliberate here: it turns a synchronous throw into a
      // rejection (cleanup steps run under `.catch(log)`, fakes implement async SDK and
      // browser interfaces). Removing `async` to please this rule would change behaviour.
      '@typescript-eslint/require-await': 'off',
      // `_`-prefixed names are deliberately unused (positional parameters, omitted fields).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // The dashboard's view takes callbacks that read the connection created after it.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-restricted-properties': ['error', ...focusedOrSkippedTests],
      'no-restricted-globals': [
        'error',
        { name: 'fit', message: 'No focused tests on main.' },
        { name: 'fdescribe', message: 'No focused tests on main.' },
        { name: 'xit', message: 'No skipped tests on main.' },
        { name: 'xdescribe', message: 'No skipped tests on main.' },
      ],
    },
  },
  {
    // Plain JavaScript (CommonJS emulator launchers, the Lambda worker, test fixtures) is
    // outside tsconfig.json: lint it without type information.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: NODE_COMMONJS_GLOBALS,
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['eslint.config.mjs'],
    languageOptions: { sourceType: 'module', globals: NODE_COMMONJS_GLOBALS },
  },
  {
    // Tests read CloudFormation templates (CDK's Template API types them `{ [key: string]: any }`)
    // and use vitest's asymmetric matchers (`expect.stringMatching()` returns `any`): the
    // no-unsafe-* rules would flag nearly every assertion without finding bugs. Production code
    // keeps them; tests keep the promise rules, which do find bugs (an un-awaited `.rejects`).
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
);
