// Lint configuration: typescript-eslint's recommended rules for every TypeScript file in the fleet, and the
// layers: a connector builds on the SDK's public entry points only (never the emulator, the CLI, the project
// model or the SDK's internal files), so the SDK can change inside and a function bundle holds only what a
// connector needs.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The SDK's public entry points for connector code: the runtime (sdk/index.ts), and the PostgreSQL and
// Fivetran REST API helpers (their own modules, so a connector that uses neither bundles neither).
const SDK_PUBLIC = ['index', 'postgres', 'fivetran-api'];
// Tests also drive connectors through the harness (sdk/testing.ts) and the functions-framework server
// (sdk/server.ts), and may stand up the local Fivetran's pieces (emulator/: API simulator, warehouse,
// embedded PostgreSQL) as fixtures.
const SDK_PUBLIC_FOR_TESTS = [...SDK_PUBLIC, 'testing', 'server'];
const CONNECTOR_TESTS = ['connectors/**/*.test.ts', 'connectors/**/test/**', 'connectors/**/test-support.ts'];

/** no-restricted-imports patterns: the SDK's files other than `sdkPublic`, and each folder in `above`. */
function layerRule(sdkPublic, above) {
  return [
    'error',
    {
      patterns: [
        {
          group: ['**/sdk/*', ...sdkPublic.map((name) => `!**/sdk/${name}.js`)],
          message: `connectors import the SDK through its public entry points (sdk/${sdkPublic.join('.ts, sdk/')}.ts); export what is missing from sdk/index.ts`,
        },
        {group: ['**/sdk/*/**'], message: 'connectors import the SDK through its public entry points, not its subfolders'},
        ...above.map((folder) => ({
          group: [`**/${folder}/**`],
          message: `connectors sit below ${folder}/ (the layers: sdk/ ← connectors/ ← emulator/, cli/); move what they need into sdk/`,
        })),
      ],
    },
  ];
}

export default tseslint.config(
  {ignores: ['node_modules/**', 'build/**', '.fivetran/**', 'coverage/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'no-console': 'off',
    },
  },
  {
    files: ['connectors/**/*.ts'],
    ignores: CONNECTOR_TESTS,
    rules: {'no-restricted-imports': layerRule(SDK_PUBLIC, ['emulator', 'cli', 'project', 'test', 'bench'])},
  },
  {
    files: CONNECTOR_TESTS,
    rules: {'no-restricted-imports': layerRule(SDK_PUBLIC_FOR_TESTS, ['cli', 'project', 'bench'])},
  },
);
