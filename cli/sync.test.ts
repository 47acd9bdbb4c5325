import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
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

/**
 * A Function connector that is not ours: a plain HTTP server (no SDK) that answers the protocol with `answer`
 * for each request body it gets.
 */
async function outsideFunction(answer: (request: {state: Record<string, unknown>; secrets: Record<string, unknown>}, call: number) => {status?: number; body: unknown}) {
  let calls = 0;
  const requests: {state: Record<string, unknown>; secrets: Record<string, unknown>}[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const request = JSON.parse(text) as {state: Record<string, unknown>; secrets: Record<string, unknown>};
      requests.push(request);
      const {status = 200, body} = answer(request, ++calls);
      res.writeHead(status, {'content-type': 'application/json'});
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('./fivetran sync --url of a function outside this repository', () => {
  it('syncs any Function connector into the schema its name gives, through the strict checks', async () => {
    const fn = await outsideFunction((request) => {
      const page = Number(request.state.page ?? 0) + 1;
      return {body: {state: {page}, insert: {events: [{id: page, kind: `page ${page}`}]}, delete: {}, schema: {events: {primary_key: ['id']}}, hasMore: page < 3}};
    });
    try {
      writeFileSync(path.join(root, 'outside-secrets.json'), JSON.stringify({region: 'eu'}));
      const text = quiet();
      await syncFunction({target: 'outside_fn', url: fn.url, secrets: 'outside-secrets.json', cwd: root, progress: false, write: text.write});
      expect(text.out.join('')).toMatch(/^synced outside_fn into .fivetran\/warehouse.duckdb \(schema outside_fn\): 3 calls, 3 rows/);
      expect(fn.requests.map((r) => r.state)).toEqual([{}, {page: 1}, {page: 2}]);
      expect(fn.requests[0]!.secrets).toEqual({region: 'eu'});
      expect(JSON.parse(readFileSync(path.join(root, '.fivetran', 'state', 'outside_fn.json'), 'utf8'))).toEqual({page: 3});
      const query = quiet();
      const result = await queryWarehouse({sql: 'select id, kind from outside_fn.events order by id', cwd: root, write: query.write});
      expect(result.rows).toEqual([{id: 1, kind: 'page 1'}, {id: 2, kind: 'page 2'}, {id: 3, kind: 'page 3'}]);
    } finally {
      await fn.close();
    }
  });

  it('refuses an outside name that is not a schema name, and an unknown name without --url', async () => {
    await expect(syncFunction({target: '../escape', url: 'http://127.0.0.1:9/', secrets: 'secrets.json', cwd: root})).rejects.toThrow(
      /^"\.\.\/escape" is not a function of this repository, and with --url it names the destination schema: use letters, digits and _/,
    );
    await expect(syncFunction({target: 'outside_fn', secrets: 'secrets.json', cwd: root})).rejects.toThrow(/^"outside_fn" is neither a function in deploy.yaml/);
  });

  it('redacts the values of secret-looking keys of an outside function and shows hosts, ports, ids and names', async () => {
    const secrets = {host: 'db.internal', port: '5432', user: 'replication', api_token: 'tok-0123456789', password: 'pw-s3cret!', private_key: {pem: 'BEGIN-KEY-xyz'}};
    writeFileSync(path.join(root, 'outside-secret.json'), JSON.stringify(secrets));
    const fn = await outsideFunction(() => ({
      status: 500,
      body: {errorMessage: `PostgreSQL at db.internal:5432 refused replication (password pw-s3cret!, token tok-0123456789, key BEGIN-KEY-xyz)`, errorType: 'SourceError'},
    }));
    try {
      const error = (await syncFunction({target: 'outside_fn', url: fn.url, secrets: 'outside-secret.json', state: 'outside-secret-state.json', cwd: root}).catch((e: unknown) => e)) as Error;
      expect(error.message).toBe(
        'sync of outside_fn failed: call 1 failed: the function answered 500: PostgreSQL at db.internal:5432 refused replication (password [REDACTED], token [REDACTED], key [REDACTED]) (SourceError); ' +
          'the state file and the warehouse keep what they held before the sync',
      );
    } finally {
      await fn.close();
    }
  });

  it("redacts only the values of a repository connector's secret fields", async () => {
    // letters declares word as text and password as secret; the served function answers an error naming both
    const fn = await outsideFunction((request) => ({body: {state: {}, insert: {}, delete: {}, schema: {}, hasMore: `${String(request.secrets.word)}/${String(request.secrets.password)}`}}));
    try {
      const error = (await syncFunction({target: 'letters-fn', url: fn.url, secrets: 'secrets.json', state: 'letters-redact-state.json', cwd: root}).catch((e: unknown) => e)) as Error;
      expect(error.message).toContain('call 1 failed: "hasMore" is a string ("hello/[REDACTED]"); it must be true or false');
      expect(error.message).toMatch(/^sync of letters-fn failed/);
      expect(error.message).not.toContain('hunter22');
    } finally {
      await fn.close();
    }
  });

  it('ends a sync that makes no progress with one line and a non-zero exit', async () => {
    const fn = await outsideFunction(() => ({body: {state: {cursor: 1}, insert: {events: [{id: 1}]}, delete: {}, schema: {events: {primary_key: ['id']}}, hasMore: true}}));
    try {
      writeFileSync(path.join(root, 'loop-state.json'), JSON.stringify({cursor: 1}));
      const error = (await syncFunction({target: 'looping_fn', url: fn.url, secrets: 'outside-secrets.json', state: 'loop-state.json', cwd: root}).catch((e: unknown) => e)) as Error & {exitCode: number};
      expect(error.message).toMatch(/^sync of looping_fn failed: ended at call 10: the sync makes no progress: calls 1–10 each answered rows and hasMore true with the very state they were sent/);
      expect(error.message).toMatch(/the state file and the warehouse keep what call 10 committed$/);
      expect(error.message).not.toContain('\n');
      expect(error.exitCode).toBe(1);
      expect(fn.requests).toHaveLength(10);
    } finally {
      await fn.close();
    }
  });
});
