import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {stringifyExactJson} from './exact-json.js';
import {checkResponse, ResponseReader} from './response-check.js';
import {inferType, schemaNameFor, Warehouse} from './warehouse.js';

let dir: string;
let warehouse: Warehouse;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fivetran-warehouse-test-'));
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));
beforeEach(async () => {
  warehouse = await Warehouse.open(path.join(dir, `${Math.random().toString(36).slice(2)}.duckdb`));
});
afterEach(async () => {
  await warehouse.close();
});

type Response = Parameters<Warehouse['apply']>[1];
const response = (r: Partial<Response>): Response => ({insert: {}, delete: {}, schema: {}, softDelete: [], ...r});
const rows = async (sql: string) => (await warehouse.query(sql)).rows;

// every case twice: rows given as objects, and the same response as a body, checked and read from its bytes
// (emulator/row-scanner.ts) where the scanner can, as ./fivetran sync reads one
describe.each(['objects', 'bytes'])('warehouse, rows as %s', (mode) => {
  beforeEach(() => {
    if (mode === 'objects') return;
    const apply = warehouse.apply.bind(warehouse);
    warehouse.apply = (schema, given, options) => {
      const text = stringifyExactJson({state: {}, hasMore: false, ...given});
      let checked;
      try {
        checked = checkResponse(200, text);
      } catch {
        return apply(schema, given, options); // a case about what the checks would refuse
      }
      return apply(schema, checked, options);
    };
  });

  it('creates tables with types inferred from JSON values and adds _fivetran_synced', async () => {
    const syncedAt = new Date('2026-02-01T00:00:00Z');
    await warehouse.apply('shop', response({
      insert: {orders: [{id: 1, total: 9.5, paid: true, placed_at: '2026-01-02T03:04:05Z', day: '2026-01-02', tags: ['a'], meta: {k: 1}, note: 'hi', empty: null}]},
      schema: {orders: {primary_key: ['id']}},
    }), {syncedAt});
    const columns = await rows(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'shop' AND table_name = 'orders' ORDER BY ordinal_position`);
    expect(Object.fromEntries(columns.map((c) => [c.column_name, c.data_type]))).toEqual({
      id: 'BIGINT', total: 'DOUBLE', paid: 'BOOLEAN', placed_at: 'TIMESTAMP WITH TIME ZONE', day: 'DATE', tags: 'JSON', meta: 'JSON', note: 'VARCHAR', empty: 'VARCHAR',
      _fivetran_synced: 'TIMESTAMP WITH TIME ZONE',
    });
    expect(await rows('SELECT id, placed_at, meta, _fivetran_synced FROM shop.orders')).toEqual([
      {id: 1, placed_at: '2026-01-02T03:04:05.000Z', meta: '{"k":1}', _fivetran_synced: syncedAt.toISOString()},
    ]);
  });

  it('reads every timestamp form it infers as one', async () => {
    const values = ['2026-01-02T03:04:05Z', '2026-01-02 03:04:05.123456789Z', '2026-01-02T05:04:05+02', '2026-01-02T05:04:05+0200', '2026-01-02T05:04:05.5+02:00'];
    await warehouse.apply('s', response({insert: {t: values.map((at, id) => ({id, at}))}, schema: {t: {primary_key: ['id']}}}));
    expect((await rows('SELECT "at" FROM s.t ORDER BY id')).map((r) => r.at)).toEqual([
      '2026-01-02T03:04:05.000Z', '2026-01-02T03:04:05.123Z', '2026-01-02T03:04:05.000Z', '2026-01-02T03:04:05.000Z', '2026-01-02T03:04:05.500Z',
    ]);
  });

  it('upserts by primary key: the last row of a key wins, missing columns become null', async () => {
    const schema = {orders: {primary_key: ['id']}};
    await warehouse.apply('shop', response({insert: {orders: [{id: 1, total: 5, note: 'a'}, {id: 2, total: 6, note: 'b'}]}, schema}));
    await warehouse.apply('shop', response({insert: {orders: [{id: 2, total: 7}, {id: 3, total: 8}, {id: 3, total: 9}]}, schema}));
    expect(await rows('SELECT id, total, note FROM shop.orders ORDER BY id')).toEqual([
      {id: 1, total: 5, note: 'a'},
      {id: 2, total: 7, note: null},
      {id: 3, total: 9, note: null},
    ]);
  });

  it('upserts pages of distinct keys, whether their keys are new, overlap earlier rows, or are text', async () => {
    const schema = {orders: {primary_key: ['id']}, codes: {primary_key: ['code']}};
    await warehouse.apply('shop', response({insert: {orders: [{id: 1, v: 'a'}, {id: 2, v: 'a'}], codes: [{code: 'x', v: 1}]}, schema}));
    // keys past every stored one (inserted without a delete), then keys among them (replaced)
    await warehouse.apply('shop', response({insert: {orders: [{id: 3, v: 'b'}, {id: 4, v: 'b'}]}, schema}));
    await warehouse.apply('shop', response({insert: {orders: [{id: 4, v: 'c'}, {id: 2, v: 'c'}, {id: 9, v: 'c'}], codes: [{code: 'x', v: 2}, {code: 'y', v: 2}]}, schema}));
    expect(await rows('SELECT id, v FROM shop.orders ORDER BY id')).toEqual([{id: 1, v: 'a'}, {id: 2, v: 'c'}, {id: 3, v: 'b'}, {id: 4, v: 'c'}, {id: 9, v: 'c'}]);
    expect(await rows('SELECT code, v FROM shop.codes ORDER BY code')).toEqual([{code: 'x', v: 2}, {code: 'y', v: 2}]);
  });

  it('collapses keys that differ in JSON but not once cast to the column type: the last row wins', async () => {
    const schema = {t: {primary_key: ['at']}};
    await warehouse.apply('s', response({insert: {t: [{at: '2026-01-02T03:04:05Z', v: 1}, {at: '2026-01-02 05:04:05+02:00', v: 2}]}, schema}));
    expect(await rows('SELECT "at", v FROM s.t')).toEqual([{at: '2026-01-02T03:04:05.000Z', v: 2}]);
  });

  it('sees tables and columns changed outside apply, and keeps nothing of a failed apply', async () => {
    const schema = {t: {primary_key: ['id']}};
    await warehouse.apply('s', response({insert: {t: [{id: 1, a: 'x'}]}, schema}));
    await warehouse.query('ALTER TABLE s.t ADD COLUMN b VARCHAR');
    await warehouse.apply('s', response({insert: {t: [{id: 2, b: 'y'}]}, schema}));
    // this response adds column c, then fails: c must be added again by the next response
    await expect(warehouse.apply('s', response({insert: {t: [{id: 3, c: 1}]}, delete: {t: [{id: 'not a number'}]}, schema}))).rejects.toThrow(/the warehouse rejected/);
    const result = await warehouse.apply('s', response({insert: {t: [{id: 3, c: 1}]}, schema}));
    expect(result.addedColumns).toEqual(['t.c']);
    expect(await rows('SELECT id, a, b, c FROM s.t ORDER BY id')).toEqual([{id: 1, a: 'x', b: null, c: null}, {id: 2, a: null, b: 'y', c: null}, {id: 3, a: null, b: null, c: 1}]);
  });

  it('upserts by a composite key', async () => {
    const schema = {lines: {primary_key: ['order_id', 'line']}};
    await warehouse.apply('shop', response({insert: {lines: [{order_id: 1, line: 1, qty: 1}, {order_id: 1, line: 2, qty: 1}]}, schema}));
    await warehouse.apply('shop', response({insert: {lines: [{order_id: 1, line: 2, qty: 5}]}, schema}));
    expect(await rows('SELECT order_id, line, qty FROM shop.lines ORDER BY line')).toEqual([{order_id: 1, line: 1, qty: 1}, {order_id: 1, line: 2, qty: 5}]);
  });

  it('appends rows of a table without a primary key with _fivetran_batch and _fivetran_index', async () => {
    await warehouse.apply('logs', response({insert: {events: [{msg: 'a'}, {msg: 'a'}]}, schema: {events: {}}}));
    await warehouse.apply('logs', response({insert: {events: [{msg: 'b'}]}, schema: {events: {}}}));
    expect(await rows('SELECT msg, _fivetran_batch, _fivetran_index FROM logs.events ORDER BY _fivetran_batch, _fivetran_index')).toEqual([
      {msg: 'a', _fivetran_batch: 1, _fivetran_index: 0},
      {msg: 'a', _fivetran_batch: 1, _fivetran_index: 1},
      {msg: 'b', _fivetran_batch: 2, _fivetran_index: 0},
    ]);
  });

  it('deletes rows by primary key', async () => {
    const schema = {orders: {primary_key: ['id']}};
    await warehouse.apply('shop', response({insert: {orders: [{id: 1}, {id: 2}, {id: 3}]}, schema}));
    const result = await warehouse.apply('shop', response({delete: {orders: [{id: 2}, {id: 99}]}, schema}));
    expect(result.deleted).toEqual({orders: 2});
    expect(await rows('SELECT id FROM shop.orders ORDER BY id')).toEqual([{id: 1}, {id: 3}]);
  });

  it('soft-deletes rows of tables in softDelete by setting _fivetran_deleted', async () => {
    const schema = {orders: {primary_key: ['id']}};
    await warehouse.apply('shop', response({insert: {orders: [{id: 1}, {id: 2}]}, schema}));
    await warehouse.apply('shop', response({delete: {orders: [{id: 2}]}, schema, softDelete: ['orders']}));
    expect(await rows('SELECT id, _fivetran_deleted FROM shop.orders ORDER BY id')).toEqual([{id: 1, _fivetran_deleted: false}, {id: 2, _fivetran_deleted: true}]);
    await warehouse.apply('shop', response({insert: {orders: [{id: 3}]}, schema}));
    expect(await rows('SELECT id, _fivetran_deleted FROM shop.orders WHERE id = 3')).toEqual([{id: 3, _fivetran_deleted: false}]);
  });

  it('adds new columns as they appear and widens a column whose values change type', async () => {
    const schema = {t: {primary_key: ['id']}};
    await warehouse.apply('s', response({insert: {t: [{id: 1, n: 1, later: null}]}, schema}));
    const result = await warehouse.apply('s', response({insert: {t: [{id: 2, n: 2.5, added: 'x', later: 7}]}, schema}));
    expect(result.addedColumns).toEqual(['t.added']);
    expect(result.widenedColumns).toEqual(['t.n: BIGINT → DOUBLE', 't.later: VARCHAR → BIGINT']);
    await warehouse.apply('s', response({insert: {t: [{id: 3, n: 'three'}]}, schema}));
    expect(await rows('SELECT id, n, added, later FROM s.t ORDER BY id')).toEqual([
      {id: 1, n: '1.0', added: null, later: null},
      {id: 2, n: '2.5', added: 'x', later: 7},
      {id: 3, n: 'three', added: null, later: null},
    ]);
  });

  it('writes nothing of a response that fails part way', async () => {
    const schema = {a: {primary_key: ['id']}, b: {primary_key: ['id']}};
    await warehouse.apply('s', response({insert: {b: [{id: 1}]}, schema}));
    // a delete key that cannot be a BIGINT fails after table a was created and written
    await expect(warehouse.apply('s', response({insert: {a: [{id: 1}]}, delete: {b: [{id: 'not a number'}]}, schema}))).rejects.toThrow(/the warehouse rejected the response/);
    expect(await rows(`SELECT table_name FROM duckdb_tables() WHERE schema_name = 's' ORDER BY 1`)).toEqual([{table_name: 'b'}]);
    expect(await rows('SELECT id FROM s.b')).toEqual([{id: 1}]);
  });

  it('loads a large response in one statement per table', async () => {
    const big = Array.from({length: 20_000}, (_, i) => ({id: i, name: `customer ${i}`, balance: i * 1.5, active: i % 2 === 0, updated_at: '2026-01-01T00:00:00Z', payload: {i}}));
    const text = JSON.stringify({state: {}, insert: {customers: big}, delete: {}, schema: {customers: {primary_key: ['id']}}, hasMore: false});
    const checked = checkResponse(200, text);
    const started = Date.now();
    await warehouse.apply('big', checked);
    await warehouse.apply('big', checked);
    const elapsed = Date.now() - started;
    expect(await rows('SELECT count(*) AS n, count(DISTINCT id) AS ids FROM big.customers')).toEqual([{n: 20_000, ids: 20_000}]);
    console.log(`warehouse: 2 × ${big.length} rows (${(text.length / 1024 / 1024).toFixed(1)} MiB) applied in ${elapsed} ms`);
  });
});

describe('type inference', () => {
  it.each([
    [true, 'BOOLEAN'], [3, 'BIGINT'], [3.5, 'DOUBLE'], ['2026-01-02', 'DATE'], ['2026-02-30', 'VARCHAR'], ['2026-01-02T03:04:05.123456Z', 'TIMESTAMPTZ'],
    ['2026-01-02 03:04:05+02:00', 'TIMESTAMPTZ'], ['2026-01-02T03:04:05+0200', 'TIMESTAMPTZ'], ['2026-01-02T03:04:05', 'TIMESTAMP'], ['2026-01-02T25:04:05Z', 'VARCHAR'],
    ['2026-01-02T03:04Z', 'VARCHAR'], ['2026-01-02T03:04:05z', 'VARCHAR'], ['hello', 'VARCHAR'], [{a: 1}, 'JSON'], [[1], 'JSON'], [null, undefined],
  ] as const)('%j is %s', (value, type) => {
    expect(inferType(value)).toBe(type);
  });

  it('names schemas after functions', () => {
    expect(schemaNameFor('Orders-Replication')).toBe('orders_replication');
    expect(schemaNameFor('9lives')).toBe('f_9lives');
  });
});

describe('warehouse numbers past a double', () => {
  it('lands integers past 2^53 and long decimals with every digit', async () => {
    const body =
      '{"state":{},"hasMore":false,"delete":{},"schema":{"n":{"primary_key":["id"]}},"insert":{"n":[' +
      '{"id":1,"big":12345678901234567890,"id64":9007199254740993,"dec":0.12345678901234567890123,"wide":123456789012345678901234567890123456789012,"meta":{"x":123456789012345678901234567890}},' +
      '{"id":2,"big":5,"id64":1,"dec":2.5,"wide":1,"meta":{"x":1}}]}}';
    const checked = checkResponse(200, body);
    await warehouse.apply('s', checked);
    const columns = await rows(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 's' AND table_name = 'n' ORDER BY ordinal_position`);
    expect(Object.fromEntries(columns.map((c) => [c.column_name, c.data_type]))).toMatchObject({id64: 'BIGINT', big: 'HUGEINT', dec: 'DECIMAL(38,23)', wide: 'VARCHAR', meta: 'JSON'});
    expect(await rows('SELECT big::VARCHAR AS big, id64::VARCHAR AS id64, dec::VARCHAR AS dec, wide, meta FROM s.n ORDER BY id')).toEqual([
      {big: '12345678901234567890', id64: '9007199254740993', dec: '0.12345678901234567890123', wide: '123456789012345678901234567890123456789012', meta: '{"x":123456789012345678901234567890}'},
      {big: '5', id64: '1', dec: '2.50000000000000000000000', wide: '1', meta: '{"x":1}'},
    ]);
    // queries give the digits as text where a number would round them
    expect(await rows('SELECT big, dec FROM s.n ORDER BY id')).toEqual([{big: '12345678901234567890', dec: '0.12345678901234567890123'}, {big: 5, dec: 2.5}]);
  });

  it('keeps a column decimal when later responses bring doubles, and deletes by an exact key', async () => {
    await warehouse.apply('s', checkResponse(200, '{"state":{},"hasMore":true,"delete":{},"schema":{"p":{"primary_key":["k"]}},"insert":{"p":[{"k":18446744073709551617,"v":1.000000000000000000001}]}}'));
    await warehouse.apply('s', checkResponse(200, '{"state":{},"hasMore":true,"delete":{},"schema":{"p":{"primary_key":["k"]}},"insert":{"p":[{"k":3,"v":0.1}]}}'));
    expect(await rows('SELECT t.k::VARCHAR AS k, t.v::VARCHAR AS v FROM s.p AS t ORDER BY t.k')).toEqual([
      {k: '3', v: '0.100000000000000000000'},
      {k: '18446744073709551617', v: '1.000000000000000000001'},
    ]);
    await warehouse.apply('s', checkResponse(200, '{"state":{},"hasMore":false,"insert":{},"schema":{"p":{"primary_key":["k"]}},"delete":{"p":[{"k":18446744073709551617}]}}'));
    expect(await rows('SELECT k::VARCHAR AS k FROM s.p')).toEqual([{k: '3'}]);
  });
});

describe('rows loaded while the body streams in', () => {
  const order = (id: number, extra: Record<string, unknown> = {}) => ({id, number: `ORD-${id}`, at: '2026-01-02T03:04:05+00:00', total: id / 4, note: id % 3 ? null : `note "${id}" ,},{`, pad: 'p'.repeat(150), ...extra});
  const body = (list: Record<string, unknown>[], patch: Record<string, unknown> = {}) =>
    JSON.stringify({insert: {orders: list}, delete: {}, schema: {orders: {primary_key: ['id']}}, state: {}, hasMore: true, ...patch});
  const range = (from: number, to: number, extra?: Record<string, unknown>) => Array.from({length: to - from}, (_, i) => order(from + i, extra));
  /** Reads `text` in chunks as httpTransport does, rows streaming into `into`, and applies it there. */
  const streamIn = async (into: Warehouse, text: string, options: {apply?: boolean} = {}) => {
    const syncedAt = new Date('2026-03-01T00:00:00Z');
    const reader = new ResponseReader(into.streamResponse('shop', syncedAt));
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += 65_536) {
      reader.write(bytes.subarray(at, at + 65_536));
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (options.apply === false) return undefined;
    return into.apply('shop', checkResponse(200, text, {parsed: reader.end()}), {syncedAt});
  };
  const all = async (into: Warehouse) => (await into.query('SELECT * EXCLUDE (_fivetran_synced) FROM shop.orders ORDER BY id')).rows;
  // the same responses applied whole, from parsed rows, as the reference
  let reference: Warehouse;
  beforeEach(async () => {
    reference = await Warehouse.open(path.join(dir, `${Math.random().toString(36).slice(2)}.duckdb`));
  });
  afterEach(async () => {
    await reference.close();
  });
  const applyWhole = (text: string) => reference.apply('shop', checkResponse(200, text, {parsed: {value: JSON.parse(text), scanned: {}, exactNumbers: 0, bytes: text.length}}), {syncedAt: new Date('2026-03-01T00:00:00Z')});

  it('inserts pieces of a page whose keys are past the table, and lands what applying it whole lands', async () => {
    const pages = [body(range(0, 8000)), body(range(8000, 16_000)), body(range(16_000, 24_000))];
    const results = [];
    for (const page of pages) {
      results.push(await streamIn(warehouse, page));
      await applyWhole(page);
    }
    // the first page creates the table: nothing to stream into yet
    expect(results.map((r) => r!.streamed.orders ?? 0)).toEqual([0, expect.any(Number), expect.any(Number)]);
    expect(results[1]!.streamed.orders).toBeGreaterThan(2000);
    expect(results.map((r) => r!.upserted.orders)).toEqual([8000, 8000, 8000]);
    expect(await all(warehouse)).toEqual(await all(reference));
    expect(await rows(`SELECT count(*) AS n, min(_fivetran_synced) = max(_fivetran_synced) AS one_time FROM shop.orders`)).toEqual([{n: 24_000, one_time: true}]);
  });

  it.each([
    ['keys the table holds (an update)', [body(range(0, 8000)), body(range(4000, 12_000, {total: -1}))]],
    ['a new column half-way', [body(range(0, 8000)), body([...range(8000, 12_000), ...range(12_000, 16_000, {extra: 'x'})])]],
    ['keys that stop ascending', [body(range(0, 8000)), body([...range(8000, 16_000), order(100, {total: -5})])]],
    ['another primary key', [body(range(0, 8000)), body(range(8000, 16_000), {schema: {orders: {primary_key: ['number']}}})]],
    ['a value that widens a column', [body(range(0, 8000)), body([...range(8000, 15_000), order(15_000, {total: 'not a number'})])]],
    ['a nested value late in the rows', [body(range(0, 8000)), body([...range(8000, 15_000), order(15_000, {note: {a: [1]}})])]],
  ])('rolls the pieces back and applies the response whole for %s', async (_name, pages) => {
    for (const page of pages) {
      const result = await streamIn(warehouse, page);
      await applyWhole(page);
      expect(result!.streamed).toEqual({});
    }
    expect(await all(warehouse)).toEqual(await all(reference));
  });

  it('leaves nothing of a discarded stream, and the next response applies as usual', async () => {
    await streamIn(warehouse, body(range(0, 8000)));
    await streamIn(warehouse, body(range(8000, 16_000)), {apply: false});
    await warehouse.discardStream();
    expect(await rows('SELECT count(*) AS n, max(id) AS max FROM shop.orders')).toEqual([{n: 8000, max: 7999}]);
    const result = await streamIn(warehouse, body(range(8000, 16_000)));
    expect(result!.upserted.orders).toBe(8000);
    expect(await rows('SELECT count(*) AS n, max(id) AS max FROM shop.orders')).toEqual([{n: 16_000, max: 15_999}]);
  });
});
