// Tests of ./fivetran connector create|list on throwaway projects (create) and the fixture project (list).
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, describe, expect, it} from 'vitest';
import {createConnector, listConnectors} from './connector.js';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/serve-project/', import.meta.url));
const quiet = {log: () => undefined};

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, {recursive: true, force: true});
});

/** A project tree: package.json, sdk/index.ts and an empty connectors/. */
function makeProject(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fivetran-connector-'));
  made.push(root);
  mkdirSync(path.join(root, 'connectors'));
  mkdirSync(path.join(root, 'sdk'));
  writeFileSync(path.join(root, 'package.json'), '{"private": true, "type": "module"}\n');
  writeFileSync(path.join(root, 'sdk', 'index.ts'), 'export {};\n');
  return root;
}

describe('connector create', () => {
  it('renders the template into connectors/<name> with the SDK imported relatively', async () => {
    const root = makeProject();
    const lines: string[] = [];

    const created = await createConnector({name: 'orders_api', cwd: root, log: (line) => lines.push(line)});

    expect(created.dir).toBe(path.join(root, 'connectors', 'orders_api'));
    expect(created.files).toEqual(['README.md', 'client.ts', 'demo.ts', 'index.test.ts', 'index.ts', 'secrets.ts', 'state.ts', 'sync.ts', 'tables.ts']);
    expect(readdirSync(created.dir).sort()).toEqual(created.files);
    const index = readFileSync(path.join(created.dir, 'index.ts'), 'utf8');
    expect(index).toContain("from '../../sdk/index.js';");
    expect(index).toContain("name: 'orders_api',");
    expect(index).toContain("import {OrdersApiSecrets} from './secrets.js';");
    expect(readFileSync(path.join(created.dir, 'secrets.ts'), 'utf8')).toContain('export type OrdersApiSecrets = z.infer<typeof OrdersApiSecrets>;');
    for (const file of created.files) expect(readFileSync(path.join(created.dir, file), 'utf8')).not.toMatch(/\{\{[#/~]?[a-zA-Z]/);
    expect(readFileSync(path.join(created.dir, 'index.test.ts'), 'utf8')).toContain("from '../../sdk/index.js';");
    expect(readFileSync(path.join(created.dir, 'demo.ts'), 'utf8')).toContain("from '../../sdk/index.js';");
    const readme = readFileSync(path.join(created.dir, 'README.md'), 'utf8');
    expect(readme).toMatch(/^# orders_api$/m);
    expect(readme).toContain('orders-api:\n  connector: orders_api\n  environment: dev');
    expect(readme).toContain('./fivetran test connectors/orders_api\n');
    expect(lines[0]).toBe('created connectors/orders_api/ (README.md, client.ts, demo.ts, index.test.ts, index.ts, secrets.ts, state.ts, sync.ts, tables.ts)');
  });

  it('renders into --destination relative to cwd, importing the SDK from there', async () => {
    const root = makeProject();
    mkdirSync(path.join(root, 'labs'));

    const created = await createConnector({name: 'weather', destination: 'experiments/api', cwd: path.join(root, 'labs'), ...quiet});

    expect(created.dir).toBe(path.join(root, 'labs', 'experiments', 'api', 'weather'));
    expect(readFileSync(path.join(created.dir, 'index.ts'), 'utf8')).toContain("from '../../../../sdk/index.js';");
    expect(readFileSync(path.join(created.dir, 'README.md'), 'utf8')).toContain('./fivetran test labs/experiments/api/weather\n');
  });

  it.each(['OrdersApi', 'orders-api', '1orders', '_orders', 'orders api', '', 'a'.repeat(64)])('refuses the name %j, saying the rule', async (name) => {
    const root = makeProject();
    await expect(createConnector({name, cwd: root, ...quiet})).rejects.toThrow(
      `connector name "${name}" is invalid: use a lowercase letter, then lowercase letters, digits or _ (at most 63 characters), e.g. my_source`,
    );
    expect(readdirSync(path.join(root, 'connectors'))).toEqual([]);
  });

  it('refuses a folder that exists and leaves it untouched', async () => {
    const root = makeProject();
    mkdirSync(path.join(root, 'connectors', 'orders'));
    writeFileSync(path.join(root, 'connectors', 'orders', 'index.ts'), '// mine\n');

    await expect(createConnector({name: 'orders', cwd: root, ...quiet})).rejects.toThrow('connectors/orders already exists; choose another name or remove that folder first');
    expect(readdirSync(path.join(root, 'connectors', 'orders'))).toEqual(['index.ts']);
    expect(readFileSync(path.join(root, 'connectors', 'orders', 'index.ts'), 'utf8')).toBe('// mine\n');
  });

  it('refuses a destination outside the project', async () => {
    const root = makeProject();
    await expect(createConnector({name: 'orders', destination: '../elsewhere', cwd: root, ...quiet})).rejects.toThrow(
      /^--destination \.\.\/elsewhere is outside the project \(.*\); a connector must live inside it to import sdk\/ and the project's packages$/,
    );
    expect(existsSync(path.join(path.dirname(root), 'elsewhere'))).toBe(false);
  });

  it('refuses to run outside a project', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'fivetran-no-project-'));
    made.push(outside);
    await expect(createConnector({name: 'orders', cwd: outside, ...quiet})).rejects.toThrow(/no fivetran project found/);
  });
});

describe('connector list', () => {
  it('lists each connector with its description, tables and the functions running it', async () => {
    let printed = '';
    const summaries = await listConnectors({cwd: FIXTURE, write: (text) => (printed += text)});

    expect(summaries).toEqual([{name: 'counter', description: 'Numbered rows after the last one synced (a test fixture)', tables: ['numbers'], functions: ['counter-dev']}]);
    expect(printed.split('\n')[0]).toMatch(/^connector\s+tables\s+functions\s+description$/);
    expect(printed).toMatch(/^counter\s+numbers\s+counter-dev\s+Numbered rows after the last one synced \(a test fixture\)$/m);
  });

  it('prints JSON with --json', async () => {
    let printed = '';
    await listConnectors({cwd: FIXTURE, json: true, write: (text) => (printed += text)});
    expect(JSON.parse(printed)).toEqual([{name: 'counter', description: 'Numbered rows after the last one synced (a test fixture)', tables: ['numbers'], functions: ['counter-dev']}]);
  });

  it('names a connector that fails to load, and one without a connector export', async () => {
    const root = makeProject();
    mkdirSync(path.join(root, 'connectors', 'broken'));
    writeFileSync(path.join(root, 'connectors', 'broken', 'index.ts'), "throw new Error('missing API_BASE');\n");
    await expect(listConnectors({cwd: root, write: () => undefined})).rejects.toThrow('connectors/broken/index.ts failed to load: missing API_BASE');
    const other = makeProject();
    mkdirSync(path.join(other, 'connectors', 'exportless'));
    writeFileSync(path.join(other, 'connectors', 'exportless', 'index.ts'), 'export const main = 1;\n');
    await expect(listConnectors({cwd: other, write: () => undefined})).rejects.toThrow('connectors/exportless/index.ts does not export `connector`');
  });

  it('says how to start when there are no connectors', async () => {
    let printed = '';
    expect(await listConnectors({cwd: makeProject(), write: (text) => (printed += text)})).toEqual([]);
    expect(printed).toBe('no connectors yet; create one with ./fivetran connector create my_source\n');
  });
});
