// Renders templates/connector/ inside the repository (under the git-ignored .fivetran/tmp/) and runs on the
// result what CI runs on every connector: its own tests (in a child vitest), eslint and tsc. A connector
// fresh from `./fivetran connector create` must pass all three untouched.
import {spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {cpSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createConnector, type CreatedConnector} from './connector.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs a binary of node_modules/.bin in the repository; resolves with its exit code and output. */
function run(bin: string, args: string[]): Promise<{code: number; output: string}> {
  // a child vitest must not think it is a worker of this run
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST') && key !== 'NODE_OPTIONS'));
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(ROOT, 'node_modules', '.bin', bin), args, {cwd: ROOT, env: {...env, NO_COLOR: '1', FORCE_COLOR: '0', CI: '1'}});
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({code: code ?? 1, output}));
  });
}

describe('a connector rendered from templates/connector/', () => {
  const work = path.join(ROOT, '.fivetran', 'tmp', `template-${randomBytes(4).toString('hex')}`);
  let created: CreatedConnector;

  beforeAll(async () => {
    mkdirSync(work, {recursive: true});
    created = await createConnector({name: 'sample_source', destination: path.join(work, 'connectors'), cwd: ROOT, log: () => undefined});
    // the repository's vitest, tsc and eslint settings skip .fivetran/, so the checks here get their own
    writeFileSync(
      path.join(work, 'vitest.config.mjs'),
      `export default ${JSON.stringify({test: {root: work, include: ['connectors/**/*.test.ts'], setupFiles: [path.join(ROOT, 'test', 'setup-network.ts')], pool: 'forks'}})};\n`,
    );
    writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify({extends: path.join(ROOT, 'tsconfig.json'), include: ['connectors'], exclude: []}));
  });

  afterAll(() => {
    rmSync(work, {recursive: true, force: true});
    rmSync(`${work}-broken`, {recursive: true, force: true});
  });

  it('passes its own tests', async () => {
    const {code, output} = await run('vitest', ['run', '--config', path.join(work, 'vitest.config.mjs')]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/Test Files\s+1 passed \(1\)/);
    const passed = Number(/Tests\s+(\d+) passed/.exec(output)?.[1]);
    expect(passed).toBeGreaterThanOrEqual(8);
    expect(output).not.toMatch(/failed|skipped/);
  });

  it("fails its own tests when the connector answers what Fivetran would refuse (they run through the local Fivetran's checks)", async () => {
    // a copy (at the same depth, so its relative imports hold) whose rows carry a column Fivetran reserves;
    // the rendered tests must catch it
    const broken = `${work}-broken`;
    cpSync(created.dir, path.join(broken, 'connectors', 'sample_source'), {recursive: true});
    const sync = path.join(broken, 'connectors', 'sample_source', 'sync.ts');
    const source = readFileSync(sync, 'utf8');
    const patched = source.replace("yield upsert('items', {id: item.id, name: item.name, updated_at: item.updated_at} satisfies ItemRow)", "yield upsert('items', {_fivetran_id: item.id, id: item.id, name: item.name, updated_at: item.updated_at})");
    expect(patched).not.toBe(source);
    writeFileSync(sync, patched);
    writeFileSync(
      path.join(broken, 'vitest.config.mjs'),
      `export default ${JSON.stringify({test: {root: broken, include: ['connectors/**/*.test.ts'], setupFiles: [path.join(ROOT, 'test', 'setup-network.ts')], pool: 'forks'}})};\n`,
    );
    const {code, output} = await run('vitest', ['run', '--config', path.join(broken, 'vitest.config.mjs')]);
    expect(code, output).not.toBe(0);
    expect(output).toMatch(/has column "_fivetran_id"/);
  });

  it('passes eslint with no warnings', async () => {
    const {code, output} = await run('eslint', ['--no-ignore', '--max-warnings', '0', created.dir]);
    expect(code, output).toBe(0);
  });

  it('passes the strict type-check', async () => {
    const {code, output} = await run('tsc', ['--noEmit', '-p', path.join(work, 'tsconfig.json')]);
    expect(code, output).toBe(0);
  });
});
