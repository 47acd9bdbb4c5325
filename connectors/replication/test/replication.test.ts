// The replication connector against a real PostgreSQL, through the real Function adapter: loads, incremental
// syncs, late commits, keys of every shape, tables without keys, odd names, value types, filters, errors.
import {readFileSync} from 'node:fs';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {handleFunctionCall, type Row} from '../../../sdk/index.js';
import {createTestDatabase, type TestDatabase} from '../../../test/support/postgres.js';
import {connector} from '../index.js';
import {runSync, sourceSecrets, Warehouse, type CallRecord} from './fivetran-loop.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replication');
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
});
afterAll(async () => db?.drop());

const byKey = (rows: Row[], key: string) => new Map(rows.map((r) => [String(r[key]), r]));

/**
 * Rows a sync sent that are new or differ from what the warehouse held before it. The late-commit sweep may
 * also re-send unchanged rows (harmless upserts): it reads rows written at or after the snapshot horizon,
 * and any transaction running anywhere on the server (other test files' databases too) holds it back.
 */
function changedRows(calls: CallRecord[], table: string, before: Warehouse): Row[] {
  const held = new Set(before.rows(table).map((row) => JSON.stringify(row)));
  return calls.flatMap((c) => c.response?.insert[table] ?? []).filter((row) => !held.has(JSON.stringify(row)));
}

describe('setup.sql', () => {
  it('runs twice without error and leaves the demo rows once', async () => {
    await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
    const {rows} = await db.query<{n: string}>('SELECT count(*) AS n FROM orders');
    expect(Number(rows[0]!.n)).toBe(8);
    const views = await db.query<{viewname: string}>(`SELECT viewname FROM pg_views WHERE schemaname = 'public' ORDER BY 1`);
    expect(views.rows.map((r) => r.viewname)).toEqual(['customer_order_history', 'order_summary_by_region', 'product_performance']);
  });
});

describe('full load, then incremental', () => {
  it('loads every table, then an incremental sync picks up exactly the updates and inserts', async () => {
    const secrets = sourceSecrets(db);
    const warehouse = new Warehouse();
    const first = await runSync(secrets, {}, warehouse);
    expect(first.calls.every((c) => c.status === 200)).toBe(true);
    expect(warehouse.rows('public_orders')).toHaveLength(8);
    expect(warehouse.rows('public_order_items')).toHaveLength(14);
    expect(warehouse.rows('public_inventory')).toHaveLength(8);
    const tables = warehouse.rows('postgres_tables').map((r) => r.table_name).sort();
    expect(tables).toEqual(['customers', 'inventory', 'order_items', 'orders', 'products', 'suppliers']);
    const column = warehouse.rows('postgres_columns').find((r) => r.table_name === 'orders' && r.column_name === 'total_amount');
    expect(column).toMatchObject({data_type: 'numeric(12,2)', destination_type: 'decimal(12,2)', is_nullable: false, is_primary_key: false});
    const amount = warehouse.rows('public_orders').find((r) => r.order_id === 1)!;
    expect(amount.total_amount).toBe('1029.98');

    await db.query(`UPDATE orders SET status = 'shipped' WHERE order_id IN (2, 4)`);
    await db.query(`INSERT INTO orders (order_number, customer_id, order_date, total_amount, region) VALUES ('ORD-NEW-1', 1001, now(), 12.50, 'Europe')`);
    const beforeSecond = warehouse.clone();
    const second = await runSync(secrets, first.state, warehouse);
    const changed = changedRows(second.calls, 'public_orders', beforeSecond);
    expect(changed.map((r) => r.order_number).sort()).toEqual(['ORD-2024-002', 'ORD-2024-004', 'ORD-NEW-1']);
    for (const other of ['public_customers', 'public_products', 'public_order_items']) {
      expect(changedRows(second.calls, other, beforeSecond)).toEqual([]);
    }
    const beforeThird = warehouse.clone();
    const third = await runSync(secrets, second.state, warehouse);
    expect(changedRows(third.calls, 'public_orders', beforeThird)).toEqual([]);
  });

  it('does not skip a row committed late with an older cursor value (two concurrent transactions)', async () => {
    await db.query(`CREATE TABLE late (id int PRIMARY KEY, note text, updated_at timestamptz NOT NULL DEFAULT now())`);
    await db.query(`CREATE TRIGGER late_set_updated_at BEFORE UPDATE ON late FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);
    await db.query(`INSERT INTO late VALUES (1, 'one'), (2, 'two')`);
    const secrets = sourceSecrets(db, {include_tables: 'late'});
    const warehouse = new Warehouse();
    const first = await runSync(secrets, {}, warehouse);

    const slow = new pg.Client({connectionString: db.url});
    const fast = new pg.Client({connectionString: db.url});
    await slow.connect();
    await fast.connect();
    try {
      // the slow transaction starts first, so its updated_at (now() = its start time) is the older one
      await slow.query('BEGIN');
      await slow.query(`UPDATE late SET note = 'one, committed late' WHERE id = 1`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await fast.query(`UPDATE late SET note = 'two, committed first' WHERE id = 2`);
      const beforeSecond = warehouse.clone();
      const second = await runSync(secrets, first.state, warehouse);
      expect(changedRows(second.calls, 'public_late', beforeSecond).map((r) => r.note)).toEqual(['two, committed first']);
      await slow.query('COMMIT');
      const {rows} = await db.query<{older: boolean}>(`SELECT (SELECT updated_at FROM late WHERE id = 1) < (SELECT updated_at FROM late WHERE id = 2) AS older`);
      expect(rows[0]).toEqual({older: true});
      const third = await runSync(secrets, second.state, warehouse);
      expect(third.calls.flatMap((c) => c.response?.insert.public_late ?? []).map((r) => r.note)).toContain('one, committed late');
      expect(byKey(warehouse.rows('public_late'), 'id').get('1')?.note).toBe('one, committed late');
    } finally {
      await slow.end();
      await fast.end();
    }
  });
});

describe('keys', () => {
  it('replicates composite and text primary keys exactly once across many small batches', async () => {
    await db.query(`CREATE TABLE tagged (tag text, seq int, label text, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tag, seq))`);
    await db.query(`INSERT INTO tagged SELECT t, s, t || s FROM unnest(ARRAY['a', 'B', 'é', 'a b', 'Z''q', '']) t, generate_series(1, 7) s`);
    await db.query(`CREATE TABLE words (word text PRIMARY KEY, n int)`);
    await db.query(`INSERT INTO words SELECT 'w' || g || repeat('x', g % 5), g FROM generate_series(1, 57) g`);
    const warehouse = new Warehouse();
    const result = await runSync(sourceSecrets(db, {include_tables: 'tagged,words', custom_batch_size: '5'}), {}, warehouse);
    const emitted = result.calls.flatMap((c) => c.response?.insert.public_tagged ?? []);
    expect(emitted).toHaveLength(42);
    expect(new Set(emitted.map((r) => `${r.tag}|${r.seq}`)).size).toBe(42);
    expect(warehouse.rows('public_words')).toHaveLength(57);
    expect(result.calls.flatMap((c) => c.response?.insert.public_words ?? [])).toHaveLength(57);
  });

  it('pages through text keys holding line breaks, control characters, quotes and backslashes, and keeps json whitespace', async () => {
    await db.query(`CREATE TABLE odd_keys (k text PRIMARY KEY, doc json, updated_at timestamptz NOT NULL DEFAULT now())`);
    const keys = ['a\nb', 'a\rb', 'a\u0001b', 'a\u0002b', 'a\tb', 'a"b', "a'b", 'a\\b', 'a,b', '\\.', 'ü\n✓', ' ', 'z'];
    for (const [i, k] of keys.entries()) await db.query(`INSERT INTO odd_keys (k, doc) VALUES ($1, $2::json)`, [k, `{"i":\n ${i},\r\n\t"k": ${JSON.stringify(k)}}`]);
    const warehouse = new Warehouse();
    const secrets = sourceSecrets(db, {include_tables: 'odd_keys', custom_batch_size: '2'});
    const first = await runSync(secrets, {}, warehouse);
    const emitted = first.calls.flatMap((c) => c.response?.insert.public_odd_keys ?? []);
    expect(emitted.map((r) => r.k).sort()).toEqual([...keys].sort());
    for (const row of emitted) expect(row.doc).toEqual({i: keys.indexOf(row.k as string), k: row.k});
    // the incremental position goes through the same keys: an update to each is picked up once
    await db.query(`UPDATE odd_keys SET updated_at = now() + interval '1 minute'`);
    const second = await runSync(secrets, first.state, warehouse);
    expect(second.calls.flatMap((c) => c.response?.insert.public_odd_keys ?? []).map((r) => r.k).sort()).toEqual([...keys].sort());
  });

  it('keys tables without a primary key by a hash of the row, reads them by ctid ranges, and re-reads them each sync', async () => {
    await db.query(`CREATE TABLE events_log (kind text, amount numeric, at timestamptz)`);
    await db.query(`INSERT INTO events_log SELECT 'k' || (g % 3), g, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour' FROM generate_series(1, 500) g`);
    await db.query(`INSERT INTO events_log VALUES ('dup', 1, NULL), ('dup', 1, NULL)`);
    const secrets = sourceSecrets(db, {include_tables: 'events_log', custom_batch_size: '60'});
    const warehouse = new Warehouse();
    const first = await runSync(secrets, {}, warehouse);
    const rows = warehouse.rows('public_events_log');
    // identical rows share one hash, as in Fivetran's own database connectors
    expect(rows).toHaveLength(501);
    expect(rows.every((r) => typeof r._fivetran_id === 'string' && /^[0-9a-f]{32}$/.test(r._fivetran_id as string))).toBe(true);
    expect(first.calls[0]!.response!.schema.public_events_log).toEqual({primary_key: ['_fivetran_id']});
    expect(first.calls.length).toBeGreaterThan(0);
    const second = await runSync(secrets, first.state, warehouse);
    expect(second.calls.flatMap((c) => c.response?.insert.public_events_log ?? [])).toHaveLength(502);
    expect(warehouse.rows('public_events_log')).toHaveLength(501);
  });
});

describe('names and types', () => {
  it('replicates quoted, mixed-case and reserved-word names into snake_case destinations', async () => {
    await db.query(`CREATE SCHEMA "Sales Data"`);
    await db.query(`CREATE TABLE "Sales Data"."Order" ("Order Id" int PRIMARY KEY, "select" text, "CamelCase" int, updated_at timestamptz DEFAULT now())`);
    await db.query(`CREATE TABLE "Sales Data"."select" ("from" int PRIMARY KEY)`);
    await db.query(`CREATE TABLE "Sales Data"."my table" (id int PRIMARY KEY, "my column" text)`);
    await db.query(`INSERT INTO "Sales Data"."Order" VALUES (1, 'a', 2), (2, 'b', 3)`);
    await db.query(`INSERT INTO "Sales Data"."select" VALUES (7)`);
    await db.query(`INSERT INTO "Sales Data"."my table" VALUES (1, 'x')`);
    const warehouse = new Warehouse();
    const secrets = sourceSecrets(db, {schemas: 'Sales Data', cursor_columns: JSON.stringify({'Sales Data.Order': 'updated_at'}), table_filters: JSON.stringify({'my table': {'my column': 'x'}})});
    const result = await runSync(secrets, {}, warehouse);
    expect(result.calls.at(-1)?.status).toBe(200);
    expect(warehouse.rows('sales_data_order').map((r) => [r.order_id, r.select, r.camel_case]).sort()).toEqual([[1, 'a', 2], [2, 'b', 3]]);
    expect(warehouse.rows('sales_data_select')).toEqual([{from: 7}]);
    expect(warehouse.rows('sales_data_my_table')).toEqual([{id: 1, my_column: 'x'}]);
    expect(result.calls[0]!.response!.schema.sales_data_order).toEqual({primary_key: ['order_id']});
  });

  it('keeps the meaning of every value type', async () => {
    await db.query(`CREATE TYPE mood AS ENUM ('ok', 'happy')`);
    await db.query(`CREATE TABLE typed (
      id bigint PRIMARY KEY, small smallint, big bigint, exact numeric(38,10), free numeric, ratio double precision, flag boolean,
      day date, local_time timestamp, instant timestamptz, doc json, docb jsonb, blob bytea, ints int[], texts text[], amounts numeric[],
      feeling mood, uid uuid, span interval, note text)`);
    await db.query(`INSERT INTO typed VALUES
      (9007199254740993, -32768, 9223372036854775807, 1234567890123456789012345678.0123456789, 'NaN', 0.1, true,
       '2024-02-29', '2024-01-15 10:30:00.123456', '2024-01-15 10:30:00+05:30', '{"a": [1, 2.50, null]}', '{"nested": {"k": "v"}}',
       '\\x00ff10', '{1,2,3}', '{"a,b","c\\"d"}', '{1.10,99999999999999999999.5}', 'happy', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:00:00', 'line1\nline2 é ✓'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const warehouse = new Warehouse();
    const result = await runSync(sourceSecrets(db, {include_tables: 'typed'}), {}, warehouse);
    const body = result.calls.map((c) => c.body).join('\n');
    // numbers beyond 2^53 travel as exact strings; within it as JSON numbers
    expect(body).toContain('"id":"9007199254740993"');
    expect(body).toContain('"big":"9223372036854775807"');
    expect(body).toContain('"id":2');
    const row = byKey(warehouse.rows('public_typed'), 'id').get('9007199254740993')!;
    expect(row).toEqual({
      id: '9007199254740993', small: -32768, big: '9223372036854775807', exact: '1234567890123456789012345678.0123456789', free: 'NaN',
      ratio: 0.1, flag: true, day: '2024-02-29', local_time: '2024-01-15T10:30:00.123456', instant: '2024-01-15T05:00:00+00:00',
      doc: {a: [1, 2.5, null]}, docb: {nested: {k: 'v'}}, blob: Buffer.from([0, 255, 16]).toString('base64'), ints: [1, 2, 3], texts: ['a,b', 'c"d'],
      amounts: ['1.10', '99999999999999999999.5'], feeling: 'happy', uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', span: '1 day 02:00:00', note: 'line1\nline2 é ✓',
    });
    const empty = byKey(warehouse.rows('public_typed'), 'id').get('2')!;
    expect(Object.entries(empty).filter(([k, v]) => k !== 'id' && v !== null)).toEqual([]);
    const types = Object.fromEntries(warehouse.rows('postgres_columns').filter((r) => r.table_name === 'typed').map((r) => [r.column_name, r.destination_type]));
    expect(types).toMatchObject({big: 'long', exact: 'decimal(38,10)', free: 'decimal', instant: 'utc_datetime', local_time: 'naive_datetime', day: 'naive_date', docb: 'json', blob: 'binary', ints: 'json', flag: 'boolean'});
  });

  it('reads domains as their base type, and a user type named like a built-in one as its own type', async () => {
    await db.query(`CREATE DOMAIN positive_id AS int4 CHECK (VALUE > 0)`);
    await db.query(`CREATE DOMAIN amount AS numeric(10,2)`);
    await db.query(`CREATE DOMAIN stamp AS timestamptz`);
    await db.query(`CREATE SCHEMA odd_types`);
    await db.query(`CREATE TYPE odd_types.int8 AS (a int, b text)`);
    await db.query(`CREATE TABLE domained (id positive_id PRIMARY KEY, total amount, at stamp, pair odd_types.int8, label char(4))`);
    await db.query(`INSERT INTO domained VALUES (1, 12.5, '2024-01-15 10:30:00+05:30', ROW(7, 'x'), 'ab'), (2, NULL, NULL, NULL, NULL)`);
    const warehouse = new Warehouse();
    await runSync(sourceSecrets(db, {include_tables: 'domained'}), {}, warehouse);
    expect(byKey(warehouse.rows('public_domained'), 'id').get('1')).toEqual({id: 1, total: '12.50', at: '2024-01-15T05:00:00+00:00', pair: {a: 7, b: 'x'}, label: 'ab  '});
    expect(byKey(warehouse.rows('public_domained'), 'id').get('2')).toEqual({id: 2, total: null, at: null, pair: null, label: null});
    const types = Object.fromEntries(warehouse.rows('postgres_columns').filter((r) => r.table_name === 'domained').map((r) => [r.column_name, r.destination_type]));
    expect(types).toEqual({id: 'int', total: 'decimal(10,2)', at: 'utc_datetime', pair: 'json', label: 'string'});
  });

  it("writes values the same way whatever the database's own session defaults (time zone, date and interval styles, float digits)", async () => {
    await db.query(`CREATE TABLE styled (id int PRIMARY KEY, instant timestamptz, day date, span interval, ratio double precision)`);
    await db.query(`INSERT INTO styled VALUES (1, '2024-01-15 10:30:00+05:30', '2024-02-29', '1 day 02:00:00', 0.1)`);
    const expected = {id: 1, instant: '2024-01-15T05:00:00+00:00', day: '2024-02-29', span: '1 day 02:00:00', ratio: 0.1};
    const before = new Warehouse();
    await runSync(sourceSecrets(db, {include_tables: 'styled'}), {}, before);
    expect(before.rows('public_styled')).toEqual([expected]);
    // new sessions of this database now start with other defaults: the connector's own settings must win
    await db.query(`ALTER DATABASE "${db.database}" SET timezone = 'America/New_York'`);
    await db.query(`ALTER DATABASE "${db.database}" SET datestyle = 'SQL, DMY'`);
    await db.query(`ALTER DATABASE "${db.database}" SET intervalstyle = 'iso_8601'`);
    await db.query(`ALTER DATABASE "${db.database}" SET extra_float_digits = 0`);
    try {
      const after = new Warehouse();
      await runSync(sourceSecrets(db, {include_tables: 'styled'}), {}, after);
      expect(after.rows('public_styled')).toEqual([expected]);
    } finally {
      await db.query(`ALTER DATABASE "${db.database}" RESET ALL`);
    }
  });
});

describe('filters', () => {
  it('filters rows on region where a table has a region column, and on table_filters', async () => {
    const warehouse = new Warehouse();
    const secrets = sourceSecrets(db, {include_tables: 'orders,customers,suppliers', region: 'Europe', table_filters: JSON.stringify({customers: {country: 'Spain'}})});
    await runSync(secrets, {}, warehouse);
    const orders = warehouse.rows('public_orders');
    expect(orders.length).toBeGreaterThan(0);
    expect(orders.every((r) => r.region === 'Europe')).toBe(true);
    const {rows} = await db.query<{n: string}>(`SELECT count(*) AS n FROM orders WHERE region = 'Europe'`);
    expect(orders).toHaveLength(Number(rows[0]!.n));
    expect(warehouse.rows('public_customers').map((r) => r.last_name)).toEqual(['García']);
    expect(warehouse.rows('public_suppliers').map((r) => r.supplier_name)).toEqual(['European Parts Co']);
  });

  it.each([
    [{table_filters: JSON.stringify({nope: {status: 'paid'}})}, /table_filters names table "nope", which does not exist/],
    [{table_filters: JSON.stringify({orders: {nope: 'paid'}})}, /table_filters names column "nope" of table public.orders/],
    [{include_tables: 'orders,missing_table'}, /include_tables names table "missing_table"/],
    [{cursor_columns: JSON.stringify({orders: 'nope'})}, /cursor_columns names column "nope"/],
    [{schemas: 'no_such_schema'}, /schema "no_such_schema" does not exist/],
    [{table_filters: JSON.stringify({orders: {customer_id: 'abc'}})}, /filter value does not fit/],
  ])('fails with a clear message for %j', async (extra, message) => {
    const result = await handleFunctionCall(connector, {state: {}, secrets: sourceSecrets(db, extra)}, {sink: () => undefined});
    expect(result.status).toBe(400);
    const body = JSON.parse(result.body) as {errorMessage: string; errorType: string};
    expect(body.errorType).toBe('InvalidConfiguration');
    expect(body.errorMessage).toMatch(message);
  });
});

describe('failures and the setup test', () => {
  it('fails at once on a wrong password, without retrying and without the password anywhere', async () => {
    const lines: string[] = [];
    const secrets = sourceSecrets(db, {password: 'Wrong-Pass-4815162342', retry_sleep_seconds: '5'});
    const started = Date.now();
    const result = await handleFunctionCall(connector, {state: {}, secrets}, {sink: (line) => lines.push(line)});
    expect(Date.now() - started).toBeLessThan(4000);
    expect(result.status).toBe(500);
    expect(JSON.parse(result.body)).toMatchObject({errorType: 'AuthenticationFailed'});
    expect(JSON.parse(result.body).errorMessage).toMatch(/check the user name and password/);
    expect([...lines, result.body].join('\n')).not.toContain('Wrong-Pass-4815162342');
  });

  it('never writes the password to logs or responses, on success or failure', async () => {
    const password = 'S3cret-Replication-Value';
    await db.query(`CREATE ROLE repl_reader LOGIN PASSWORD '${password}'`);
    await db.query(`GRANT USAGE ON SCHEMA public TO repl_reader`);
    await db.query(`GRANT SELECT ON orders, customers TO repl_reader`);
    const lines: string[] = [];
    const sink = (line: string) => lines.push(line);
    const base = sourceSecrets(db, {username: 'repl_reader', password, debug: 'true'});
    const ok = await handleFunctionCall(connector, {state: {}, secrets: {...base, include_tables: 'orders,customers'}}, {sink});
    expect(ok.status).toBe(200);
    const denied = await handleFunctionCall(connector, {state: {}, secrets: {...base, include_tables: 'orders,products'}}, {sink});
    expect(denied.status).toBe(500);
    expect(JSON.parse(denied.body)).toMatchObject({errorType: 'AuthenticationFailed'});
    expect(JSON.parse(denied.body).errorMessage).toMatch(/may not read table public.products; GRANT SELECT/);
    const setup = await handleFunctionCall(connector, {state: {}, secrets: {...base, include_tables: 'orders,customers'}, setup_test: true}, {sink});
    expect(setup.status).toBe(200);
    const setupDenied = await handleFunctionCall(connector, {state: {}, secrets: {...base, include_tables: 'orders,products'}, setup_test: true}, {sink});
    expect(setupDenied.status).toBe(500);
    expect(JSON.parse(setupDenied.body).errorMessage).toMatch(/may not read table public.products/);
    expect(lines.length).toBeGreaterThan(2);
    expect([...lines, ok.body, denied.body, setup.body, setupDenied.body].join('\n')).not.toContain(password);
  });

  it('setup test fails with a clear message for a missing table', async () => {
    const result = await handleFunctionCall(connector, {state: {}, secrets: sourceSecrets(db, {include_tables: 'ghost'}), setup_test: true}, {sink: () => undefined});
    expect(result.status).toBe(400);
    expect(JSON.parse(result.body).errorMessage).toMatch(/include_tables names table "ghost", which does not exist in schemas public/);
  });
});
