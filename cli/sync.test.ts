import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {freePort} from '../emulator/embedded-postgres.js';
import {syncFunction} from './sync.js';
import {queryWarehouse} from './warehouse.js';

const sdk = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'sdk', 'index.js');
let root: string;

/** A throwaway project with one tiny connector: `letters` upserts one row per letter of secrets.word. */
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'fivetran-sync-cli-'));
  writeFileSync(path.join(root, 'package.json'), '{"name": "sync-cli-test", "type": "module"}');
  mkdirSync(path.join(root, 'connectors', 'letters'), {recursive: true});
  writeFileSync(
    path.join(root, 'connectors', 'letters', 'index.ts'),
    `import {checkpoint, defineConnector, field, upsert, z} from ${JSON.stringify(sdk)};
export const connector = defineConnector({
  name: 'letters',
  secrets: z.object({word: field.text(), password: field.secret().optional()}),
  tables: {letters: {primaryKey: ['position']}},
  async test() {},
  async *sync({secrets, state}) {
    const done = Number(state.done ?? 0);
    for (let i = done; i < secrets.word.length; i++) yield upsert('letters', {position: i, letter: secrets.word[i]});
    yield checkpoint({done: secrets.word.length});
  },
});
`,
  );
  writeFileSync(path.join(root, 'deploy.yaml'), 'letters-fn: {connector: letters, environment: dev}\n');
  writeFileSync(path.join(root, 'secrets.json'), JSON.stringify({word: 'hello', password: 'hunter22'}));
});
afterAll(() => rmSync(root, {recursive: true, force: true}));

const quiet = () => {
  const out: string[] = [];
  return {out, write: (text: string) => void out.push(text)};
};

describe('./fivetran sync', () => {
  it('syncs a deploy.yaml function into the warehouse and prints rows per table, or one JSON summary', async () => {
    const text = quiet();
    await syncFunction({target: 'letters-fn', secrets: 'secrets.json', cwd: root, progress: false, write: text.write});
    expect(text.out.join('')).toMatch(/^synced letters-fn into .fivetran\/warehouse.duckdb \(schema letters_fn\): 1 call, 5 rows/);
    expect(text.out.join('')).toContain('letters  5     0');
    expect(JSON.parse(readFileSync(path.join(root, '.fivetran', 'state', 'letters-fn.json'), 'utf8'))).toEqual({done: 5});

    const json = quiet();
    await syncFunction({target: 'letters-fn', secrets: 'secrets.json', state: 'other-state.json', json: true, cwd: root, write: json.write});
    const summary = JSON.parse(json.out.join('')) as Record<string, unknown>;
    expect(summary).toMatchObject({function: 'letters-fn', schema: 'letters_fn', calls: 1, rows: {letters: 5}, state: {done: 5}, endedBy: 'finished'});
    expect(typeof summary.durationMs).toBe('number');

    const query = quiet();
    const result = await queryWarehouse({sql: 'select position, letter from letters_fn.letters order by position', cwd: root, write: query.write});
    expect(result.rows.map((r) => r.letter).join('')).toBe('hello');
    expect(query.out.join('')).toContain('position  letter\n--------  ------\n0         h');
  });

  it('fails with one line on a missing secrets file', async () => {
    await expect(syncFunction({target: 'letters', secrets: 'nope.json', cwd: root})).rejects.toThrow(/^secrets file .*nope\.json not found; create a JSON object/);
  });

  it('fails with one line on a corrupt state file, and leaves it as it was', async () => {
    writeFileSync(path.join(root, 'corrupt.json'), '{"done": ');
    await expect(syncFunction({target: 'letters', secrets: 'secrets.json', state: 'corrupt.json', cwd: root})).rejects.toThrow(/^the state file .*corrupt\.json is not valid JSON .*; fix it, or delete it/);
    expect(readFileSync(path.join(root, 'corrupt.json'), 'utf8')).toBe('{"done": ');
  });

  it('fails with one line on an unreachable --url, naming the call, without secrets', async () => {
    const port = await freePort();
    const error = (await syncFunction({target: 'letters', secrets: 'secrets.json', url: `http://127.0.0.1:${port}/`, state: 'unreachable.json', cwd: root}).catch((e: unknown) => e)) as Error & {exitCode: number};
    expect(error.message).toMatch(/^sync of letters failed: call 1 failed: cannot reach http:\/\/127\.0\.0\.1:\d+\/ \(ECONNREFUSED\).*keep what they held before the sync$/);
    expect(error.exitCode).toBe(1);
    expect(error.message).not.toContain('hunter22');
  });

  it('rejects an unknown target and a bad --url', async () => {
    await expect(syncFunction({target: 'nope', secrets: 'secrets.json', cwd: root})).rejects.toThrow(/"nope" is neither a function in deploy.yaml \(letters-fn\) nor a connector \(letters\)/);
    await expect(syncFunction({target: 'letters', secrets: 'secrets.json', url: 'ftp://x', cwd: root})).rejects.toThrow('--url ftp://x must be an http:// or https:// URL');
  });

  it('reports a SQL error from warehouse query in one line', async () => {
    await expect(queryWarehouse({sql: 'select * from nowhere', cwd: root, write: () => undefined})).rejects.toThrow(/^query failed: Catalog Error: Table with name nowhere does not exist/);
  });
});
