// The CLI's one exit-code rule (cli/errors.ts, docs/cli.md "Exit codes"), run as a user would: 2 when the command
// line is wrong (commander's errors and ours alike), 1 when the command ran and failed or what it read was
// wrong, 0 otherwise; each error is one line on stderr.
import {spawnSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {CliConfigError, CommandFailed, EXIT_FAILED, EXIT_USAGE, UsageError} from './errors.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let project: string;

function cli(args: string[]): {code: number | null; stderr: string} {
  const result = spawnSync(process.execPath, ['--import', path.join(repo, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs'), path.join(repo, 'cli', 'index.ts'), ...args], {
    cwd: project,
    encoding: 'utf8',
  });
  return {code: result.status, stderr: result.stderr};
}

beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'fivetran-exit-rule-'));
  symlinkSync(path.join(repo, 'node_modules'), path.join(project, 'node_modules'));
  writeFileSync(path.join(project, 'package.json'), '{"name": "exit-rule", "type": "module"}\n');
  mkdirSync(path.join(project, 'connectors', 'probe'), {recursive: true});
  writeFileSync(path.join(project, 'connectors', 'probe', 'index.ts'), 'export const main = () => 1;\n');
  mkdirSync(path.join(project, 'sql', 'views'), {recursive: true});
  writeFileSync(path.join(project, 'sql', 'views', '01_one.sql.hbs'), '{{create_view "one"}} SELECT 1 AS one\n');
  writeFileSync(path.join(project, 'deploy.yaml'), 'probe-fn: {connector: probe, environment: dev}\n');
});
afterAll(() => rmSync(project, {recursive: true, force: true}));

describe('the exit-code rule', () => {
  it('gives the error classes their codes: usage 2, config and failures 1', () => {
    expect([new UsageError('u').exitCode, new CliConfigError('c').exitCode, new CommandFailed('f').exitCode]).toEqual([EXIT_USAGE, EXIT_FAILED, EXIT_FAILED]);
    expect([EXIT_FAILED, EXIT_USAGE]).toEqual([1, 2]);
  });

  it.each([
    {name: 'a missing required option (commander)', args: ['sql', 'render', 'views'], stderr: "error: required option '--dialect <dialect>' not specified"},
    {name: 'an invalid option value (ours)', args: ['sql', 'render', 'views', '--dialect', 'redshift'], stderr: 'fivetran: unknown dialect "redshift"; use one of bigquery, snowflake, postgres, duckdb'},
    {name: 'an unknown command', args: ['deploi'], stderr: "error: unknown command 'deploi'"},
    {name: 'an option value commander refuses', args: ['deploy', '--all', '--concurrency', 'x'], stderr: "error: option '--concurrency <n>' argument 'x' is invalid. must be a whole number"},
    {name: 'nothing to deploy named', args: ['deploy', '--dry-run'], stderr: 'fivetran: say what to deploy: function names from deploy.yaml, --all, or --env ENV'},
    // 1 means "unchanged, skip the deploy" to CircleCI: a broken command line must not say that
    {name: 'ci_config changed without its function', args: ['ci_config', 'changed'], stderr: "error: missing required argument 'function'"},
  ])('exits 2 for $name', ({args, stderr}) => {
    const result = cli(args);
    expect(result.stderr.split('\n')[0]).toBe(stderr);
    expect(result.code).toBe(EXIT_USAGE);
  });

  it.each([
    {name: 'SQL templates that do not exist', args: ['sql', 'render', 'nowhere', '--dialect', 'duckdb'], stderr: 'fivetran: no SQL templates in sql/nowhere/ (expected NN_<view>.sql.hbs files)\n'},
    {name: 'a function deploy.yaml does not define', args: ['deploy', 'nope', '--dry-run'], stderr: 'fivetran: unknown function nope; deploy.yaml defines: probe-fn\n'},
  ])('exits 1 for $name', ({args, stderr}) => {
    const result = cli(args);
    expect(result.stderr).toBe(stderr);
    expect(result.code).toBe(EXIT_FAILED);
  });

  it('exits 0 for help and for a command that worked', () => {
    expect(cli(['--help']).code).toBe(0);
    expect(cli(['sql', 'render', 'views', '--dialect', 'duckdb'])).toEqual({code: 0, stderr: ''});
  });
});
