// Lint configuration: typescript-eslint's recommended rules for every TypeScript file in the fleet, and the
// layers: sdk/ at the bottom, project/ and connectors/ on it, then emulator/, then cli/; no import runs upward.
// A connector builds on the SDK's public entry points only (never the emulator, the CLI, the project model or
// the SDK's internal files), so the SDK can change inside and a function bundle holds only what it needs.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The SDK's public entry points for connector code: the runtime (sdk/index.ts), and the PostgreSQL and
// Fivetran REST API helpers (their own modules, so a connector that uses neither bundles neither).
const SDK_PUBLIC = ['index', 'postgres', 'fivetran-api'];
// Tests also drive connectors through the harness (sdk/testing.ts) and the functions-framework server
// (sdk/server.ts), and may stand up the local Fivetran's pieces (emulator/: API simulator, warehouse,
// embedded PostgreSQL) as fixtures.
const SDK_PUBLIC_FOR_TESTS = [...SDK_PUBLIC, 'testing', 'server'];
// tests, and the helpers they share beside the code (a served function in its own process, a source's secrets)
const CONNECTOR_TESTS = ['connectors/**/*.test.ts', 'connectors/**/test/**', 'connectors/**/test-support.ts', 'connectors/replication/served-function.ts', 'connectors/replication/source-secrets.ts'];

// `z` as a named import is zod's whole namespace as one object, which esbuild cannot tree-shake: a bundle then
// loads all of zod (about 120 KiB more at a cold start). `import * as z from 'zod'` is shaken member by member.
const ZOD_NAMESPACE = {
  selector: "ImportDeclaration[source.value=/^zod$|sdk\\/index\\.js$/][importKind!='type'] > ImportSpecifier[imported.name='z'][importKind!='type']",
  message: "import * as z from 'zod': a named `z` is zod's whole namespace as one object, which a bundle cannot tree-shake",
};

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
          message: `connectors sit below ${folder}/ (the layers: sdk/ ← project/, connectors/ ← emulator/ ← cli/); move what they need into sdk/`,
        })),
      ],
    },
  ];
}

/** The connectors' rule, plus: a function reaches a connector only through its public.ts. */
function functionLayerRule(sdkPublic, above) {
  const [level, {patterns}] = layerRule(sdkPublic, above);
  return [level, {patterns: [...patterns, {group: ['**/connectors/*/*', '!**/connectors/*/public.js'], message: 'functions use a connector through its public.ts only (connectors/monitoring/public.ts)'}]}];
}

/** no-restricted-imports patterns for a layer that must not reach `above`. */
function below(layer, above) {
  return ['error', {patterns: above.map((folder) => ({group: [`**/${folder}/**`], message: `${layer}/ sits below ${folder}/ (the layers: sdk/ ← project/, connectors/ ← emulator/ ← cli/)`}))}];
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
  // what goes into function bundles
  {files: ['sdk/**/*.ts', 'connectors/**/*.ts', 'functions/**/*.ts'], ignores: ['**/*.test.ts', ...CONNECTOR_TESTS, 'sdk/testing.ts'], rules: {'no-restricted-syntax': ['error', ZOD_NAMESPACE]}},
  {
    files: ['connectors/**/*.ts'],
    ignores: CONNECTOR_TESTS,
    rules: {'no-restricted-imports': layerRule(SDK_PUBLIC, ['emulator', 'cli', 'project', 'test', 'bench', 'functions'])},
  },
  // functions/<name>/: Cloud Functions that are not Fivetran connectors (fivetran-webhooks). The connectors'
  // layer: the SDK's public entry points, and of a connector only its public.ts (the monitoring lifecycle and sinks)
  {
    files: ['functions/**/*.ts'],
    ignores: ['functions/**/*.test.ts'],
    rules: {'no-restricted-imports': functionLayerRule(SDK_PUBLIC, ['emulator', 'cli', 'project', 'test', 'bench'])},
  },
  {files: ['functions/**/*.test.ts'], rules: {'no-restricted-imports': functionLayerRule(SDK_PUBLIC_FOR_TESTS, ['cli', 'project', 'bench'])}},
  // sdk/testing.ts is the test harness built on the local Fivetran (emulator/), for tests only
  {files: ['sdk/**/*.ts'], ignores: ['sdk/testing.ts'], rules: {'no-restricted-imports': below('sdk', ['project', 'connectors', 'functions', 'emulator', 'cli'])}},
  {files: ['project/**/*.ts'], rules: {'no-restricted-imports': below('project', ['connectors', 'functions', 'emulator', 'cli'])}},
  {files: ['emulator/**/*.ts'], rules: {'no-restricted-imports': below('emulator', ['cli'])}},
  {
    files: CONNECTOR_TESTS,
    rules: {'no-restricted-imports': layerRule(SDK_PUBLIC_FOR_TESTS, ['cli', 'project', 'bench'])},
  },
);
