// The unused-code check (test/unused-code.ts): no export that nothing uses, no dependency that nothing loads.
// What is dead today is listed below, so the check passes while other work removes it: the list can only
// shrink (an entry that is no longer dead fails the test until it is taken off), and anything newly dead fails.
import {execFileSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';
import {findUnusedDependencies, findUnusedExports} from './unused-code.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Exports loaded by name from outside the TypeScript graph. */
const ENTRY_EXPORTS = [
  'sdk/index.ts#*', // the SDK's public entry: what connectors, this repository's and its users', import
  'connectors/*/index.ts#connector', // ./fivetran loadConnector, the Partner SDK server
  'connectors/*/index.ts#main', // functions-framework's --target=main
  'connectors/*/demo.ts#demo', // ./fivetran demo
  'functions/*/index.ts#main', // functions-framework's --target=main, for the functions that are not connectors
  'test/fixtures/**/connectors/*/index.ts#connector',
  'test/fixtures/**/connectors/*/index.ts#main',
  'test/global-setup.ts#default', // vitest.config.ts globalSetup
  'vitest.config.ts#default',
  'eslint.config.js#default',
];

/** Dead today, each to be removed (or used) by the work that owns the file: `<file>#<export>`. */
const KNOWN_DEAD_EXPORTS = [
  // re-exports of cli/monitor/* that every caller imports from the submodule instead (issue 15, layers)
  'cli/monitor.ts#AlertsResult',
  'cli/monitor.ts#MonitorAlertsOptions',
  'cli/monitor.ts#MonitorDashboardOptions',
  'cli/monitor.ts#MonitorStatusOptions',
  'cli/monitor.ts#MonitorWaitOptions',
  'cli/monitor.ts#StatusResult',
  'cli/monitor.ts#WaitResult',
  'cli/monitor.ts#renderDashboard',
  // types of the freshness state schema that nothing names (issue 15, typed state)
  'connectors/freshness/state.ts#Analysis',
  'connectors/freshness/state.ts#Paging',
  'connectors/replication/column-types.ts#keyTextExpression',
  'sdk/fivetran-api.ts#ConnectionStatus',
  // re-exported for connector tests, used by none yet
  'sdk/testing.ts#CheckedResponse',
  'sdk/testing.ts#SyncFailed',
  'sdk/testing.ts#SyncSummary',
];

/** Dependencies nothing loads: remove them from package.json (and the lockfile) with npm uninstall. */
const KNOWN_UNUSED_DEPENDENCIES: string[] = [];

describe('unused code', () => {
  it('has no export that nothing uses beyond the known ones', {timeout: 120_000}, () => {
    const dead = findUnusedExports({root, entryExports: ENTRY_EXPORTS, templateDirs: ['templates']}).map(({file, name}) => `${file}#${name}`);
    expect(dead.filter((entry) => !KNOWN_DEAD_EXPORTS.includes(entry)), 'newly dead: remove these exports, or use them').toEqual([]);
    expect(KNOWN_DEAD_EXPORTS.filter((entry) => !dead.includes(entry)), 'no longer dead: take these off KNOWN_DEAD_EXPORTS').toEqual([]);
  });

  it('has no dependency that nothing loads beyond the known ones', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {cwd: root, encoding: 'utf8'})
      .split('\n')
      .filter((file) => /\.(ts|js|mjs|cjs|hbs)$/.test(file));
    const unused = findUnusedDependencies(root, files);
    expect(unused.filter((name) => !KNOWN_UNUSED_DEPENDENCIES.includes(name)), 'remove these from package.json').toEqual([]);
    expect(KNOWN_UNUSED_DEPENDENCIES.filter((name) => !unused.includes(name)), 'no longer unused: take these off KNOWN_UNUSED_DEPENDENCIES').toEqual([]);
  });

  it('finds what nothing uses, and counts named, type, re-exported and dynamic uses (so the checks have teeth)', () => {
    const project = mkdtempSync(path.join(tmpdir(), 'unused-'));
    try {
      const files: Record<string, string> = {
        'tsconfig.json': JSON.stringify({compilerOptions: {module: 'ESNext', moduleResolution: 'Bundler', strict: true, noEmit: true, types: []}, include: ['src']}),
        'package.json': JSON.stringify({dependencies: {used: '1', unused: '1', resolved: '1'}}),
        'src/lib.ts': [
          'export const named = 1;',
          'export type Shape = {a: number};',
          'export function dynamic() {}',
          'export function dead() {}',
          'export const usedHere = 2;',
          'export const alsoHere = usedHere + 1;',
          "export {again} from './more.js';",
        ].join('\n'),
        'src/more.ts': 'export const again = 3;\nexport const deadToo = 4;\n',
        'src/main.ts': [
          "import {named, type Shape, again} from './lib.js';",
          "import used from 'used';",
          "const resolved = require.resolve('resolved');",
          'export async function main(shape: Shape) {',
          "  const {dynamic} = await import('./lib.js');",
          '  return [named, again, shape, dynamic, used, resolved];',
          '}',
        ].join('\n'),
      };
      for (const [file, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(project, file)), {recursive: true});
        writeFileSync(path.join(project, file), text);
      }
      const dead = findUnusedExports({root: project, entryExports: ['src/main.ts#main']}).map(({file, name}) => `${file}#${name}`);
      // usedHere is used in its own file: kept; alsoHere, which uses it, is used nowhere
      expect(dead).toEqual(['src/lib.ts#alsoHere', 'src/lib.ts#dead', 'src/more.ts#deadToo']);
      expect(findUnusedDependencies(project, ['src/main.ts', 'src/lib.ts'])).toEqual(['unused']);
    } finally {
      rmSync(project, {recursive: true, force: true});
    }
  });
});
