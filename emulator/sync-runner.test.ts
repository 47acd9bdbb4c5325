import {createServer, type Server} from 'node:http';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {checkpoint, defineConnector, field, remove, upsert, z} from '../sdk/index.js';
import {createMain} from '../sdk/function-adapter.js';
import {createFunctionServer, listen} from '../sdk/server.js';
import type {FunctionRequest} from '../sdk/types.js';
import {httpTransport, inProcessTransport, runSync, SyncFailed, type FunctionTransport} from './sync-runner.js';
import {pendingFile, readPending, readState, writePending} from './state-store.js';
import {Warehouse} from './warehouse.js';

let dir: string;
let warehouse: Warehouse;
let stateFile: string;
const servers: Server[] = [];
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fivetran-sync-test-'));
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));
beforeEach(async () => {
  const name = Math.random().toString(36).slice(2);
  warehouse = await Warehouse.open(path.join(dir, `${name}.duckdb`));
  stateFile = path.join(dir, `${name}.state.json`);
});
afterEach(async () => {
  await warehouse.close();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A function answering from a script of responses, recording what it was sent. */
function scripted(answers: (request: FunctionRequest, call: number) => {status?: number; body: unknown}) {
  const requests: FunctionRequest[] = [];
  const transport: FunctionTransport = async (request) => {
    requests.push(JSON.parse(JSON.stringify(request)) as FunctionRequest);
    const {status, body} = answers(request, requests.length);
    return {status: status ?? 200, body: typeof body === 'string' ? body : JSON.stringify(body)};
  };
  return {transport, requests};
}

const page = (n: number, hasMore: boolean) => ({
  state: {page: n},
  insert: {items: [{id: n, name: `item ${n}`}]},
  delete: {},
  schema: {items: {primary_key: ['id']}},
  hasMore,
});

async function serve(handler: (body: string, call: number) => {status: number; body: string} | undefined): Promise<string> {
  let calls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const answer = handler(body, ++calls);
      if (!answer) return; // never answer
      res.writeHead(answer.status, {'content-type': 'application/json'});
      res.end(answer.body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const options = () => ({functionName: 'items_fn', secrets: {token: 'abc'}, stateFile, warehouse, schema: 'items_fn'});

describe('runSync', () => {
  it('sends agent, state, secrets and one sync_id, calls while hasMore, and commits state after each call', async () => {
    writeFileSync(stateFile, JSON.stringify({page: 0}));
    const seen: unknown[] = [];
    const fn = scripted((request, call) => {
      // each next call is sent once the response before it is kept pending, before the warehouse commits it
      const pending = readPending(stateFile);
      seen.push({committed: readState(stateFile), pending: pending && {call: pending.call, stateSent: pending.stateSent, body: JSON.parse(pending.body)}});
      return {body: page(call, call < 3)};
    });
    const summary = await runSync({...options(), transport: fn.transport});
    expect(summary).toMatchObject({calls: 3, rows: {items: 3}, state: {page: 3}, endedBy: 'finished'});
    expect(fn.requests.map((r) => r.state)).toEqual([{page: 0}, {page: 1}, {page: 2}]);
    expect(seen).toEqual([
      {committed: {page: 0}, pending: undefined},
      {committed: {page: 0}, pending: {call: 1, stateSent: {page: 0}, body: page(1, true)}},
      {committed: {page: 1}, pending: {call: 2, stateSent: {page: 1}, body: page(2, true)}},
    ]);
    expect(existsSync(pendingFile(stateFile))).toBe(false);
    expect(new Set(fn.requests.map((r) => r.sync_id)).size).toBe(1);
    expect(fn.requests[0]!.sync_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fn.requests[0]).toMatchObject({agent: expect.stringContaining('items_fn'), secrets: {token: 'abc'}});
    expect(readState(stateFile)).toEqual({page: 3});
    expect((await warehouse.query('SELECT id FROM items_fn.items ORDER BY id')).rows).toEqual([{id: 1}, {id: 2}, {id: 3}]);
    const second = await runSync({...options(), transport: scripted(() => ({body: page(9, false)})).transport});
    expect(second.syncId).not.toBe(summary.syncId);
  });

  it('keeps the committed state and warehouse when the function answers 500', async () => {
    const url = await serve((_body, call) => (call === 1 ? {status: 200, body: JSON.stringify(page(1, true))} : {status: 500, body: JSON.stringify({errorMessage: 'database is down', errorType: 'SourceError'})}));
    const error = await runSync({...options(), transport: httpTransport(url, {timeoutMs: 5000})}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncFailed);
    expect((error as SyncFailed).message).toBe('call 2 failed: the function answered 500: database is down (SourceError)');
    expect(readState(stateFile)).toEqual({page: 1});
    expect((await warehouse.query('SELECT id FROM items_fn.items')).rows).toEqual([{id: 1}]);
  });

  it('keeps the committed state and warehouse when a response breaks the protocol', async () => {
    writeFileSync(stateFile, JSON.stringify({page: 0}));
    const fn = scripted((_r, call) => ({body: call === 1 ? page(1, true) : {...page(2, true), insert: {items: [{id: 2}], ghosts: [{id: 1}]}}}));
    const error = await runSync({...options(), transport: fn.transport}).catch((e: unknown) => e);
    expect((error as Error).message).toBe('call 2 failed: insert.ghosts has 1 row but "ghosts" is missing from "schema"; add "ghosts": {"primary_key": [...]} (or {} to append)');
    expect(readState(stateFile)).toEqual({page: 1});
    expect((await warehouse.query('SELECT id FROM items_fn.items')).rows).toEqual([{id: 1}]);
  });

  it('keeps the state file untouched when the first call fails', async () => {
    writeFileSync(stateFile, '{"cursor": "x"}');
    const fn = scripted(() => ({body: {state: {cursor: 'y'}, insert: {}, delete: {}, schema: {}, hasMore: 'no'}}));
    await expect(runSync({...options(), transport: fn.transport})).rejects.toThrow(/"hasMore" is a string/);
    expect(readFileSync(stateFile, 'utf8')).toBe('{"cursor": "x"}');
  });

  it('ends the sync after more than 10 consecutive empty responses, as Fivetran does', async () => {
    const fn = scripted((_r, call) => ({body: call === 1 ? page(1, true) : {state: {page: call}, insert: {}, delete: {}, schema: {}, hasMore: true}}));
    const summary = await runSync({...options(), transport: fn.transport});
    expect(summary.calls).toBe(12);
    expect(summary.endedBy).toBe('empty_responses');
    expect(summary.warnings[0]).toMatch(/11 consecutive responses without rows/);
    expect(readState(stateFile)).toEqual({page: 12});
  });

  it('stops after --max-calls with the state committed', async () => {
    const fn = scripted((_r, call) => ({body: page(call, true)}));
    const summary = await runSync({...options(), transport: fn.transport, maxCalls: 2});
    expect(summary).toMatchObject({calls: 2, endedBy: 'max_calls', state: {page: 2}});
  });

  it('syncs a connector in-process and over HTTP from createFunctionServer with the same result', async () => {
    const connector = defineConnector({
      name: 'counter',
      secrets: z.object({count: field.integer()}),
      tables: {numbers: {primaryKey: ['n']}},
      async test() {},
      async *sync({secrets, state}) {
        const from = Number(state.next ?? 0);
        for (let n = from; n < secrets.count; n++) {
          yield upsert('numbers', {n, square: n * n});
          yield checkpoint({next: n + 1});
        }
      },
    });
    const local = await runSync({...options(), secrets: {count: '5'}, transport: inProcessTransport(connector, {sink: () => undefined})});
    expect(local).toMatchObject({calls: 1, rows: {numbers: 5}, state: {next: 5}});

    const server = createFunctionServer('counter_test', createMain(connector, {sink: () => undefined}));
    servers.push(server);
    const url = await listen(server, 0);
    const remote = await runSync({...options(), schema: 'over_http', stateFile: path.join(dir, 'http.json'), secrets: {count: '5'}, transport: httpTransport(url, {timeoutMs: 5000})});
    expect(remote).toMatchObject({calls: 1, rows: {numbers: 5}, state: {next: 5}});
    expect((await warehouse.query('SELECT n, square FROM over_http.numbers ORDER BY n')).rows).toEqual((await warehouse.query('SELECT n, square FROM items_fn.numbers ORDER BY n')).rows);
  });

  it('lands a large streamed response over HTTP as in-process, every row as sent', async () => {
    const connector = defineConnector({
      name: 'wide',
      secrets: z.object({count: field.integer()}),
      tables: {rows: {primaryKey: ['n']}},
      async test() {},
      async *sync({secrets}) {
        for (let n = 0; n < secrets.count; n++) {
          // text that looks like the end of a row, quotes, backslashes, nested lists of objects
          yield upsert('rows', {n, text: `row ${n} "}," \\ },{ São Paulo`, nested: {list: [{n}, {m: n}]}});
          if (n % 5000 === 4999) yield checkpoint({next: n + 1});
        }
        yield checkpoint({next: secrets.count});
      },
    });
    const local = await runSync({...options(), secrets: {count: '30000'}, transport: inProcessTransport(connector, {sink: () => undefined})});
    const server = createFunctionServer('wide_test', createMain(connector, {sink: () => undefined}));
    servers.push(server);
    const url = await listen(server, 0);
    const remote = await runSync({...options(), schema: 'over_http', stateFile: path.join(dir, 'wide-http.json'), secrets: {count: '30000'}, transport: httpTransport(url, {timeoutMs: 20_000})});
    expect(remote.bytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(remote).toMatchObject({calls: local.calls, rows: {rows: 30000}, state: {next: 30000}});
    const sql = (schema: string) => `SELECT n, text, nested::VARCHAR AS nested FROM ${schema}.rows ORDER BY n`;
    const landed = (await warehouse.query(sql('over_http'))).rows;
    expect(landed).toHaveLength(30000);
    expect(landed[1000]).toEqual({n: 1000, text: 'row 1000 "}," \\ },{ São Paulo', nested: '{"list":[{"n":1000},{"m":1000}]}'});
    expect(landed).toEqual((await warehouse.query(sql('items_fn'))).rows);
  });

  it('reads each body into the buffer of the last one and lands every row as sent, whether the next body is larger or smaller', async () => {
    // scanned rows (no nested value), keys ascending across responses; each body is read while the response
    // before it is applied, into the buffer of the one before that once it is released
    const sizes = [3000, 30_000, 2000];
    const starts = [0, 3000, 33_000];
    const rowsOf = (call: number) =>
      Array.from({length: sizes[call - 1]!}, (_, i) => ({id: starts[call - 1]! + i, name: `call ${call} row ${i} "},{" São Paulo`, placed: `2026-0${call}-01T00:00:00Z`}));
    const url = await serve((_body, call) => ({
      status: 200,
      body: JSON.stringify({state: {call}, insert: {items: rowsOf(call)}, delete: {}, schema: {items: {primary_key: ['id']}}, hasMore: call < 3}),
    }));
    const summary = await runSync({...options(), transport: httpTransport(url, {timeoutMs: 20_000})});
    expect(summary).toMatchObject({calls: 3, rows: {items: 35_000}, state: {call: 3}});
    const landed = (await warehouse.query(`SELECT id, name, strftime(placed, '%Y-%m-%d') AS placed FROM items_fn.items ORDER BY id`)).rows;
    expect(landed).toEqual([1, 2, 3].flatMap(rowsOf).map((row) => ({...row, placed: row.placed.slice(0, 10)})));
  });

  it('refuses to give the body of an answer once it is released', async () => {
    const url = await serve(() => ({status: 200, body: JSON.stringify(page(1, false))}));
    const answer = await httpTransport(url, {timeoutMs: 5000})({agent: 'a', state: {}, secrets: {}, sync_id: 's'});
    expect(JSON.parse(answer.body)).toMatchObject({state: {page: 1}});
    answer.release?.();
    expect(() => answer.body).toThrow(/released/);
  });

  it('keeps the committed state and warehouse when a response breaks the protocol after its rows streamed in', async () => {
    const rows = (from: number) => Array.from({length: 10_000}, (_, i) => ({id: from + i, name: `item ${from + i}`, pad: 'p'.repeat(200)}));
    const url = await serve((_body, call) => {
      const answer = {state: {page: call}, insert: {items: rows(call * 10_000)}, delete: {}, schema: {items: {primary_key: ['id']}}, hasMore: call < 2};
      // the third answer, the first of the second sync (the call whose rows load while its body streams in),
      // has fine rows and a bad hasMore after them
      return {status: 200, body: JSON.stringify(call === 3 ? {...answer, hasMore: 'yes'} : answer)};
    });
    await runSync({...options(), transport: httpTransport(url, {timeoutMs: 20_000})});
    const error = await runSync({...options(), transport: httpTransport(url, {timeoutMs: 20_000})}).catch((e: unknown) => e);
    expect((error as SyncFailed).message).toMatch(/^call 1 failed: "hasMore" is a string/);
    expect(readState(stateFile)).toEqual({page: 2});
    expect((await warehouse.query('SELECT count(*) AS n, min(id) AS min, max(id) AS max FROM items_fn.items')).rows).toEqual([{n: 20_000, min: 10_000, max: 29_999}]);
  });

  it('ends a call whose in-process connector never answers', async () => {
    const stuck = defineConnector({
      name: 'stuck',
      secrets: z.object({}),
      async test() {},
      // eslint-disable-next-line require-yield -- never yields: it ignores the deadline signal
      async *sync() {
        await new Promise(() => undefined);
      },
    });
    await expect(runSync({...options(), transport: inProcessTransport(stuck, {sink: () => undefined, timeoutMs: 200})})).rejects.toThrow('call 1 failed: stuck did not answer within 0.2 s (its timeout plus 5 s)');
    expect(existsSync(stateFile)).toBe(false);
  });

  it('fails with one line when the URL is unreachable or the function does not answer in time', async () => {
    const closed = await serve(() => undefined);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    await expect(runSync({...options(), transport: httpTransport(closed, {timeoutMs: 2000})})).rejects.toThrow(/^call 1 failed: cannot reach http:\/\/127\.0\.0\.1:\d+\/? \(ECONNREFUSED\)/);
    const silent = await serve(() => undefined);
    await expect(runSync({...options(), transport: httpTransport(silent, {timeoutMs: 300})})).rejects.toThrow(/^call 1 failed: the function at http:\/\/127\.0\.0\.1:\d+\/? did not answer within/);
    expect(existsSync(stateFile)).toBe(false);
  });
});

describe('runSync with the next call in flight', () => {
  const badDelete = (n: number) => ({...page(n, true), delete: {items: [{id: 'not a number'}]}});

  it('stops the call in flight when the warehouse refuses a response, keeps that response pending, and applies it first once it can', async () => {
    writeFileSync(stateFile, JSON.stringify({page: 0}));
    let stopped!: () => void;
    const inFlightStopped = new Promise<void>((resolve) => (stopped = resolve));
    const url = await serve((body, call) => {
      if (call === 1) return {status: 200, body: JSON.stringify(page(1, true))};
      if (call === 2) return {status: 200, body: JSON.stringify(badDelete(2))};
      // call 3 is in flight while the warehouse refuses call 2's response: it never answers, and is stopped
      expect(JSON.parse(body).state).toEqual({page: 2});
      return undefined;
    });
    // the client closes the connection of a call it stops before its answer
    servers.at(-1)!.on('request', (_req, res) => res.on('close', () => res.writableFinished || stopped()));
    const error = (await runSync({...options(), transport: httpTransport(url, {timeoutMs: 120_000})}).catch((e: unknown) => e)) as SyncFailed;
    expect(error.message).toMatch(/^call 2 failed: the warehouse rejected .*\(the response is kept in .*\.state\.json\.pending; the next sync applies it first\)$/);
    await inFlightStopped;
    expect(readState(stateFile)).toEqual({page: 1});
    expect(readPending(stateFile)).toMatchObject({call: 2, stateSent: {page: 1}});

    // the next sync applies it before it calls the function, and fails as long as the warehouse refuses it
    const again = scripted(() => ({body: page(9, false)}));
    const refused = (await runSync({...options(), transport: again.transport}).catch((e: unknown) => e)) as SyncFailed;
    expect(refused.message).toMatch(/^the response to call 2 of the last sync, received but not committed and kept in \S+\.pending, cannot be applied: the warehouse rejected .*; fix that and sync again, or delete \S+\.pending to drop it \(its rows are then lost\)$/);
    expect(again.requests).toHaveLength(0);

    // once it can be applied (here: the pending response is replaced by a good one), it is, and the sync goes on from its state
    writePending(stateFile, {stateSent: {page: 1}, call: 2, body: JSON.stringify(page(2, true))});
    const resumed = scripted((_r, call) => ({body: page(2 + call, call < 2)}));
    const summary = await runSync({...options(), transport: resumed.transport});
    expect(resumed.requests.map((r) => r.state)).toEqual([{page: 2}, {page: 3}]);
    expect(summary).toMatchObject({calls: 2, rows: {items: 3}, state: {page: 4}});
    expect(summary.warnings).toContain('applied the response to call 2 of the last sync first: that sync ended after it had received it and sent the next call, before it committed it');
    expect(existsSync(pendingFile(stateFile))).toBe(false);
    expect((await warehouse.query('SELECT id FROM items_fn.items ORDER BY id')).rows).toEqual([{id: 1}, {id: 2}, {id: 3}, {id: 4}]);
  });

  it('stops an in-process call in flight through its signal when the warehouse refuses the response before it', async () => {
    let stoppedWith: unknown;
    const connector = defineConnector({
      name: 'pages',
      secrets: z.object({}),
      tables: {items: {primaryKey: ['id']}},
      async test() {},
      async *sync({state, signal}) {
        const n = Number(state.page ?? 0) + 1;
        if (n === 3) {
          // in flight while the warehouse refuses call 2's response: waits until the runner stops it
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          stoppedWith = signal.reason;
          return;
        }
        yield upsert('items', {id: n, name: `item ${n}`});
        if (n === 2) yield remove('items', {id: 'not a number'});
        yield checkpoint({page: n}, {endCall: true});
      },
    });
    const error = (await runSync({...options(), secrets: {}, transport: inProcessTransport(connector, {sink: () => undefined})}).catch((e: unknown) => e)) as SyncFailed;
    expect(error.message).toMatch(/^call 2 failed: the warehouse rejected .*\(the response is kept in \S+\.pending; the next sync applies it first\)$/);
    expect(stoppedWith).toBeInstanceOf(Error);
    expect(readState(stateFile)).toEqual({page: 1});
  });

  it('drops a pending response that followed another state than the committed one', async () => {
    writeFileSync(stateFile, JSON.stringify({page: 0}));
    writePending(stateFile, {stateSent: {page: 6}, call: 7, body: JSON.stringify(page(7, true))});
    const fn = scripted(() => ({body: page(1, false)}));
    const summary = await runSync({...options(), transport: fn.transport});
    expect(fn.requests.map((r) => r.state)).toEqual([{page: 0}]);
    expect(summary.warnings[0]).toMatch(/^dropped the response to call 7 of the last sync, which it received but did not commit \(\S+\.pending\): it followed another state than the one committed now/);
    expect((await warehouse.query('SELECT id FROM items_fn.items')).rows).toEqual([{id: 1}]);
    expect(existsSync(pendingFile(stateFile))).toBe(false);
  });

  it('refuses a pending file it did not write, in one line saying how to go on', async () => {
    writeFileSync(pendingFile(stateFile), '{"state": {}}');
    await expect(runSync({...options(), transport: scripted(() => ({body: page(1, false)})).transport})).rejects.toThrow(
      /^\S+\.pending is not a response kept by \.\/fivetran sync \(its first line must say which state it followed\); delete it to drop it/,
    );
  });
});

describe('runSync without progress', () => {
  it('fails a sync whose responses repeat rows with hasMore true and the state they were sent', async () => {
    writeFileSync(stateFile, JSON.stringify({cursor: 7, shard: 'a'}));
    // the state comes back with its keys in another order: still the same state
    const fn = scripted(() => ({body: {state: {shard: 'a', cursor: 7}, insert: {items: [{id: 7, name: 'same'}]}, delete: {}, schema: {items: {primary_key: ['id']}}, hasMore: true}}));
    const error = (await runSync({...options(), transport: fn.transport}).catch((e: unknown) => e)) as SyncFailed;
    expect(error).toBeInstanceOf(SyncFailed);
    expect(error.message).toBe(
      'ended at call 10: the sync makes no progress: calls 1–10 each answered rows and hasMore true with the very state they were sent, so every next call would answer the same; ' +
        'advance the state with every page (a cursor past the rows sent), or answer hasMore false when there is nothing more',
    );
    expect(fn.requests).toHaveLength(10);
    expect(error.summary).toMatchObject({calls: 10, rows: {items: 10}});
    expect((await warehouse.query('select id, name from items_fn.items')).rows).toEqual([{id: 7, name: 'same'}]);
  });

  it('lets a sync repeat its state a few times while the state then moves on', async () => {
    const fn = scripted((request, call) => {
      const cursor = Number((request.state as {cursor?: number}).cursor ?? 0);
      // nine answers with the same state, then progress, then nine more, then the end
      const next = call % 9 === 0 ? cursor + 1 : cursor;
      return {body: {state: {cursor: next}, insert: {items: [{id: call, name: `n${call}`}]}, delete: {}, schema: {items: {primary_key: ['id']}}, hasMore: call < 20}};
    });
    const summary = await runSync({...options(), transport: fn.transport});
    expect(summary).toMatchObject({calls: 20, endedBy: 'finished', state: {cursor: 2}});
  });
});

describe('runSync with numbers past a double', () => {
  it('commits a state with a big integer digit for digit and sends it back so', async () => {
    const bodies: string[] = [];
    const url = await serve((body, call) => {
      bodies.push(body);
      const answer = call === 1 ? {state: {cursor: '__BIG__'}, insert: {items: [{id: 1, name: 'a'}]}, delete: {}, schema: {items: {primary_key: ['id']}}, hasMore: true} : {...page(2, false), state: {done: true}};
      return {status: 200, body: JSON.stringify(answer).replace('"__BIG__"', '12345678901234567890')};
    });
    await runSync({...options(), transport: httpTransport(url, {timeoutMs: 5000}), maxCalls: 1});
    expect(readFileSync(stateFile, 'utf8')).toContain('"cursor": 12345678901234567890');
    await runSync({...options(), transport: httpTransport(url, {timeoutMs: 5000})});
    expect(bodies[1]).toContain('"state":{"cursor":12345678901234567890}');
  });
});
