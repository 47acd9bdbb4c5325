// The replication connector against a real PostgreSQL, through the local Fivetran's strict checks into DuckDB
// (sdk/testing.ts): loads, incremental syncs, late commits, keys of every shape, tables without keys, odd
// names, value types, filters, errors. Values are asserted as the function sent them (`inserted`), counts
// and deduplication in the warehouse.
import {readFileSync} from 'node:fs';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import type {Row} from '../../sdk/index.js';
import {callConnector, syncAll, TestWarehouse, type SyncOptions, type SyncResult} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {sourceSecrets} from './source-secrets.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replication');
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
});
afterAll(async () => db?.drop());

const byKey = (rows: Row[], key: string) => new Map(rows.map((r) => [String(r[key]), r]));

const sync = (secrets: Record<string, unknown>, options: SyncOptions = {}) => syncAll(connector, secrets, options);

/**
 * The warehouse as the function sent it: for each key, the last version of the row any of `syncs` inserted
 * (DuckDB gives values back in its own types; the tests assert the values the function sent).
 */
function sent(syncs: SyncResult[], table: string, key: string[]): Row[] {
  const rows = new Map<string, Row>();
  for (const result of syncs) for (const row of result.inserted(table)) rows.set(JSON.stringify(key.map((c) => row[c])), row);
  return [...rows.values()];
}

/**
 * Rows a sync sent that are new or differ from what the earlier syncs had left. The late-commit sweep may
 * also re-send unchanged rows (harmless upserts): it reads rows written at or after the snapshot horizon,
 * and any transaction running anywhere on the server (other test files' databases too) holds it back.
 */
function changedRows(result: SyncResult, table: string, key: string[], before: SyncResult[]): Row[] {
  const held = new Set(sent(before, table, key).map((row) => JSON.stringify(row)));
  return result.inserted(table).filter((row) => !held.has(JSON.stringify(row)));
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
    const warehouse = await TestWarehouse.open();
    const first = await sync(secrets, {warehouse});
    expect(first.calls.every((c) => c.status === 200)).toBe(true);
    expect(await first.rows('public_orders')).toHaveLength(8);
    expect(await first.rows('public_order_items')).toHaveLength(14);
    expect(await first.rows('public_inventory')).toHaveLength(8);
    const tables = (await first.rows('postgres_tables')).map((r) => r.table_name).sort();
    expect(tables).toEqual(['customers', 'inventory', 'order_items', 'orders', 'products', 'suppliers']);
    const column = first.inserted('postgres_columns').find((r) => r.table_name === 'orders' && r.column_name === 'total_amount');
    expect(column).toMatchObject({data_type: 'numeric(12,2)', destination_type: 'decimal(12,2)', is_nullable: false, is_primary_key: false});
    expect(first.inserted('public_orders').find((r) => r.order_id === 1)!.total_amount).toBe('1029.98');
    expect((await first.rows('public_orders', {orderBy: ['order_id']}))[0]!.total_amount).toBe('1029.98');

    await db.query(`UPDATE orders SET status = 'shipped' WHERE order_id IN (2, 4)`);
    await db.query(`INSERT INTO orders (order_number, customer_id, order_date, total_amount, region) VALUES ('ORD-NEW-1', 1001, now(), 12.50, 'Europe')`);
    const second = await sync(secrets, {state: first.state, warehouse});
    const changed = changedRows(second, 'public_orders', ['order_id'], [first]);
    expect(changed.map((r) => r.order_number).sort()).toEqual(['ORD-2024-002', 'ORD-2024-004', 'ORD-NEW-1']);
    for (const [other, key] of [['public_customers', 'customer_id'], ['public_products', 'product_id'], ['public_order_items', 'order_item_id']] as const) {
      expect(changedRows(second, other, [key], [first])).toEqual([]);
    }
    expect(await second.rows('public_orders')).toHaveLength(9);
    const third = await sync(secrets, {state: second.state, warehouse});
    expect(changedRows(third, 'public_orders', ['order_id'], [first, second])).toEqual([]);
    await warehouse.close();
  });

  it('does not skip a row committed late with an older cursor value (two concurrent transactions)', async () => {
    await db.query(`CREATE TABLE late (id int PRIMARY KEY, note text, updated_at timestamptz NOT NULL DEFAULT now())`);
    await db.query(`CREATE TRIGGER late_set_updated_at BEFORE UPDATE ON late FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);
    await db.query(`INSERT INTO late VALUES (1, 'one'), (2, 'two')`);
    const secrets = sourceSecrets(db, {include_tables: 'late'});
    const warehouse = await TestWarehouse.open();
    const first = await sync(secrets, {warehouse});

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
      const second = await sync(secrets, {state: first.state, warehouse});
      expect(changedRows(second, 'public_late', ['id'], [first]).map((r) => r.note)).toEqual(['two, committed first']);
      await slow.query('COMMIT');
      const {rows} = await db.query<{older: boolean}>(`SELECT (SELECT updated_at FROM late WHERE id = 1) < (SELECT updated_at FROM late WHERE id = 2) AS older`);
      expect(rows[0]).toEqual({older: true});
      const third = await sync(secrets, {state: second.state, warehouse});
      expect(third.inserted('public_late').map((r) => r.note)).toContain('one, committed late');
      expect(byKey(await third.rows('public_late'), 'id').get('1')?.note).toBe('one, committed late');
    } finally {
      await slow.end();
      await fast.end();
      await warehouse.close();
    }
  });
});

describe('keys', () => {
  it('replicates composite and text primary keys exactly once across many small batches', async () => {
    await db.query(`CREATE TABLE tagged (tag text, seq int, label text, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tag, seq))`);
    await db.query(`INSERT INTO tagged SELECT t, s, t || s FROM unnest(ARRAY['a', 'B', 'é', 'a b', 'Z''q', '']) t, generate_series(1, 7) s`);
    await db.query(`CREATE TABLE words (word text PRIMARY KEY, n int)`);
    await db.query(`INSERT INTO words SELECT 'w' || g || repeat('x', g % 5), g FROM generate_series(1, 57) g`);
    const result = await sync(sourceSecrets(db, {include_tables: 'tagged,words', custom_batch_size: '5'}));
    const emitted = result.inserted('public_tagged');
    expect(emitted).toHaveLength(42);
    expect(new Set(emitted.map((r) => `${r.tag}|${r.seq}`)).size).toBe(42);
    expect(await result.rows('public_tagged')).toHaveLength(42);
    expect(await result.rows('public_words')).toHaveLength(57);
    expect(result.inserted('public_words')).toHaveLength(57);
  });

  it('pages through text keys holding line breaks, control characters, quotes and backslashes, and keeps json whitespace', async () => {
    await db.query(`CREATE TABLE odd_keys (k text PRIMARY KEY, doc json, updated_at timestamptz NOT NULL DEFAULT now())`);
    const keys = ['a\nb', 'a\rb', 'a\u0001b', 'a\u0002b', 'a\tb', 'a"b', "a'b", 'a\\b', 'a,b', '\\.', 'ü\n✓', ' ', 'z'];
    for (const [i, k] of keys.entries()) await db.query(`INSERT INTO odd_keys (k, doc) VALUES ($1, $2::json)`, [k, `{"i":\n ${i},\r\n\t"k": ${JSON.stringify(k)}}`]);
    const warehouse = await TestWarehouse.open();
    const secrets = sourceSecrets(db, {include_tables: 'odd_keys', custom_batch_size: '2'});
    const first = await sync(secrets, {warehouse});
    const emitted = first.inserted('public_odd_keys');
    expect(emitted.map((r) => r.k).sort()).toEqual([...keys].sort());
    for (const row of emitted) expect(row.doc).toEqual({i: keys.indexOf(row.k as string), k: row.k});
    expect((await first.rows('public_odd_keys')).map((r) => r.k).sort()).toEqual([...keys].sort());
    // the incremental position goes through the same keys: an update to each is picked up once
    await db.query(`UPDATE odd_keys SET updated_at = now() + interval '1 minute'`);
    const second = await sync(secrets, {state: first.state, warehouse});
    expect(second.inserted('public_odd_keys').map((r) => r.k).sort()).toEqual([...keys].sort());
    expect(await second.rows('public_odd_keys')).toHaveLength(keys.length);
    await warehouse.close();
  });

  it('keys tables without a primary key by _row_hash, a hash of the row, reads them by ctid ranges, and re-reads them each sync without duplicates', async () => {
    await db.query(`CREATE TABLE events_log (kind text, amount numeric, at timestamptz)`);
    await db.query(`INSERT INTO events_log SELECT 'k' || (g % 3), g, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour' FROM generate_series(1, 500) g`);
    await db.query(`INSERT INTO events_log VALUES ('dup', 1, NULL), ('dup', 1, NULL)`);
    const secrets = sourceSecrets(db, {include_tables: 'events_log', custom_batch_size: '60'});
    const warehouse = await TestWarehouse.open();
    // through the local Fivetran's strict checks, which refuse every _fivetran_* column
    const first = await sync(secrets, {warehouse});
    const rows = await first.rows('public_events_log');
    // identical rows share one hash
    expect(rows).toHaveLength(501);
    expect(rows.every((r) => typeof r._row_hash === 'string' && /^[0-9a-f]{32}$/.test(r._row_hash as string))).toBe(true);
    expect(first.calls[0]!.body!.schema.public_events_log).toEqual({primary_key: ['_row_hash']});
    const second = await sync(secrets, {state: first.state, warehouse});
    expect(second.inserted('public_events_log')).toHaveLength(502);
    // the second sync replaced the rows rather than adding them
    expect(await second.rows('public_events_log')).toHaveLength(501);
    // a changed row lands as a new row; its old version stays (the README's semantics for keyless tables)
    await db.query(`UPDATE events_log SET amount = 10001 WHERE amount = 1 AND kind = 'k1'`);
    const third = await sync(secrets, {state: second.state, warehouse});
    expect(await third.rows('public_events_log')).toHaveLength(502);
    await warehouse.close();
  });

  it('names a source column that folds to _row_hash apart, and never sends a _fivetran_ column', async () => {
    await db.query(`CREATE TABLE keyless_odd ("_row_hash" text, "_fivetran_id" int, "_fivetran_synced" text)`);
    await db.query(`INSERT INTO keyless_odd VALUES ('mine', 1, 'x')`);
    const result = await sync(sourceSecrets(db, {include_tables: 'keyless_odd'}));
    const [row] = result.inserted('public_keyless_odd');
    expect(Object.keys(row!).sort()).toEqual(['_row_hash', 'fivetran_id', 'fivetran_synced', 'row_hash']);
    expect(row).toMatchObject({row_hash: 'mine', fivetran_id: 1, fivetran_synced: 'x'});
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
    const secrets = sourceSecrets(db, {schemas: 'Sales Data', cursor_columns: JSON.stringify({'Sales Data.Order': 'updated_at'}), table_filters: JSON.stringify({'my table': {'my column': 'x'}})});
    const result = await sync(secrets);
    expect(result.calls.at(-1)?.status).toBe(200);
    expect((await result.rows('sales_data_order')).map((r) => [r.order_id, r.select, r.camel_case]).sort()).toEqual([[1, 'a', 2], [2, 'b', 3]]);
    expect(await result.rows('sales_data_select')).toEqual([{from: 7}]);
    expect(await result.rows('sales_data_my_table')).toEqual([{id: 1, my_column: 'x'}]);
    expect(result.calls[0]!.body!.schema.sales_data_order).toEqual({primary_key: ['order_id']});
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
    const result = await sync(sourceSecrets(db, {include_tables: 'typed'}));
    const body = result.calls.map((c) => c.text).join('\n');
    // numbers beyond 2^53 travel as exact strings; within it as JSON numbers
    expect(body).toContain('"id":"9007199254740993"');
    expect(body).toContain('"big":"9223372036854775807"');
    expect(body).toContain('"id":2');
    const row = byKey(result.inserted('public_typed'), 'id').get('9007199254740993')!;
    expect(row).toEqual({
      id: '9007199254740993', small: -32768, big: '9223372036854775807', exact: '1234567890123456789012345678.0123456789', free: 'NaN',
      ratio: 0.1, flag: true, day: '2024-02-29', local_time: '2024-01-15T10:30:00.123456', instant: '2024-01-15T05:00:00+00:00',
      doc: {a: [1, 2.5, null]}, docb: {nested: {k: 'v'}}, blob: Buffer.from([0, 255, 16]).toString('base64'), ints: [1, 2, 3], texts: ['a,b', 'c"d'],
      amounts: ['1.10', '99999999999999999999.5'], feeling: 'happy', uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', span: '1 day 02:00:00', note: 'line1\nline2 é ✓',
    });
    const empty = byKey(result.inserted('public_typed'), 'id').get('2')!;
    expect(Object.entries(empty).filter(([k, v]) => k !== 'id' && v !== null)).toEqual([]);
    // and the warehouse took both rows
    expect(await result.rows('public_typed')).toHaveLength(2);
    const types = Object.fromEntries(result.inserted('postgres_columns').filter((r) => r.table_name === 'typed').map((r) => [r.column_name, r.destination_type]));
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
    const result = await sync(sourceSecrets(db, {include_tables: 'domained'}));
    const rows = byKey(result.inserted('public_domained'), 'id');
    expect(rows.get('1')).toEqual({id: 1, total: '12.50', at: '2024-01-15T05:00:00+00:00', pair: {a: 7, b: 'x'}, label: 'ab  '});
    expect(rows.get('2')).toEqual({id: 2, total: null, at: null, pair: null, label: null});
    expect(await result.rows('public_domained')).toHaveLength(2);
    const types = Object.fromEntries(result.inserted('postgres_columns').filter((r) => r.table_name === 'domained').map((r) => [r.column_name, r.destination_type]));
    expect(types).toEqual({id: 'int', total: 'decimal(10,2)', at: 'utc_datetime', pair: 'json', label: 'string'});
  });

  it("writes values the same way whatever the database's own session defaults (time zone, date and interval styles, float digits)", async () => {
    await db.query(`CREATE TABLE styled (id int PRIMARY KEY, instant timestamptz, day date, span interval, ratio double precision)`);
    await db.query(`INSERT INTO styled VALUES (1, '2024-01-15 10:30:00+05:30', '2024-02-29', '1 day 02:00:00', 0.1)`);
    const expected = {id: 1, instant: '2024-01-15T05:00:00+00:00', day: '2024-02-29', span: '1 day 02:00:00', ratio: 0.1};
    const before = await sync(sourceSecrets(db, {include_tables: 'styled'}));
    expect(before.inserted('public_styled')).toEqual([expected]);
    // new sessions of this database now start with other defaults: the connector's own settings must win
    await db.query(`ALTER DATABASE "${db.database}" SET timezone = 'America/New_York'`);
    await db.query(`ALTER DATABASE "${db.database}" SET datestyle = 'SQL, DMY'`);
    await db.query(`ALTER DATABASE "${db.database}" SET intervalstyle = 'iso_8601'`);
    await db.query(`ALTER DATABASE "${db.database}" SET extra_float_digits = 0`);
    try {
      const after = await sync(sourceSecrets(db, {include_tables: 'styled'}));
      expect(after.inserted('public_styled')).toEqual([expected]);
      // and the two warehouses hold the same
      expect(await after.rows('public_styled')).toEqual(await before.rows('public_styled'));
    } finally {
      await db.query(`ALTER DATABASE "${db.database}" RESET ALL`);
    }
  });
});

describe('filters', () => {
  it('filters rows on region where a table has a region column, and on table_filters', async () => {
    const secrets = sourceSecrets(db, {include_tables: 'orders,customers,suppliers', region: 'Europe', table_filters: JSON.stringify({customers: {country: 'Spain'}})});
    const result = await sync(secrets);
    const orders = await result.rows('public_orders');
    expect(orders.length).toBeGreaterThan(0);
    expect(orders.every((r) => r.region === 'Europe')).toBe(true);
    const {rows} = await db.query<{n: string}>(`SELECT count(*) AS n FROM orders WHERE region = 'Europe'`);
    expect(orders).toHaveLength(Number(rows[0]!.n));
    expect((await result.rows('public_customers')).map((r) => r.last_name)).toEqual(['García']);
    expect((await result.rows('public_suppliers')).map((r) => r.supplier_name)).toEqual(['European Parts Co']);
  });

  it.each([
    [{table_filters: JSON.stringify({nope: {status: 'paid'}})}, /table_filters names table "nope", which does not exist/],
    [{table_filters: JSON.stringify({orders: {nope: 'paid'}})}, /table_filters names column "nope" of table public.orders/],
    [{include_tables: 'orders,missing_table'}, /include_tables names table "missing_table"/],
    [{cursor_columns: JSON.stringify({orders: 'nope'})}, /cursor_columns names column "nope"/],
    [{schemas: 'no_such_schema'}, /schema "no_such_schema" does not exist/],
    [{table_filters: JSON.stringify({orders: {customer_id: 'abc'}})}, /filter value does not fit/],
  ])('fails with a clear message for %j', async (extra, message) => {
    const result = await callConnector(connector, {state: {}, secrets: sourceSecrets(db, extra)});
    expect(result.status).toBe(400);
    expect(result.body.errorType).toBe('InvalidConfiguration');
    expect(result.body.errorMessage).toMatch(message);
  });
});

describe('failures and the setup test', () => {
  it('fails at once on a wrong password, without retrying and without the password anywhere', async () => {
    const lines: string[] = [];
    const secrets = sourceSecrets(db, {password: 'Wrong-Pass-4815162342', retry_sleep_seconds: '5'});
    const started = Date.now();
    const result = await callConnector(connector, {state: {}, secrets}, {sink: (line) => lines.push(line)});
    expect(Date.now() - started).toBeLessThan(4000);
    expect(result.status).toBe(500);
    expect(result.body).toMatchObject({errorType: 'AuthenticationFailed'});
    expect(result.body.errorMessage).toMatch(/check the user name and password/);
    // only the secret is redacted: the host, port, database and user stay readable
    expect(result.body.errorMessage).toContain(`"${db.user}" at ${db.host}:${db.port}/${db.database}`);
    expect([...lines, result.text].join('\n')).not.toContain('Wrong-Pass-4815162342');
  });

  it('names the host and port, and never the password, when the server cannot be reached', async () => {
    const lines: string[] = [];
    const password = 'Unreachable-Secret-271828';
    const result = await callConnector(connector, {state: {}, secrets: sourceSecrets(db, {port: '1', password, max_retries: '0'})}, {sink: (line) => lines.push(line)});
    expect(result.status).toBe(500);
    expect(result.body.errorMessage).toBe(`PostgreSQL at ${db.host}:1 refused the connection; check the host, the port and that the server accepts connections from Fivetran`);
    expect(lines.join('\n')).toContain(`${db.host}:1`);
    expect([...lines, result.text].join('\n')).not.toContain(password);
    expect([...lines, result.text].join('\n')).not.toContain('[REDACTED]');
  });

  it('never writes the password to logs or responses, on success or failure', async () => {
    const password = 'S3cret-Replication-Value';
    await db.query(`CREATE ROLE repl_reader LOGIN PASSWORD '${password}'`);
    await db.query(`GRANT USAGE ON SCHEMA public TO repl_reader`);
    await db.query(`GRANT SELECT ON orders, customers TO repl_reader`);
    const lines: string[] = [];
    const sink = (line: string) => lines.push(line);
    const base = sourceSecrets(db, {username: 'repl_reader', password, debug: 'true'});
    const ok = await callConnector(connector, {state: {}, secrets: {...base, include_tables: 'orders,customers'}}, {sink});
    expect(ok.status).toBe(200);
    const denied = await callConnector(connector, {state: {}, secrets: {...base, include_tables: 'orders,products'}}, {sink});
    expect(denied.status).toBe(500);
    expect(denied.body).toMatchObject({errorType: 'AuthenticationFailed'});
    expect(denied.body.errorMessage).toMatch(/may not read table public.products; GRANT SELECT/);
    const setup = await callConnector(connector, {state: {}, secrets: {...base, include_tables: 'orders,customers'}, setup_test: true}, {sink});
    expect(setup.status).toBe(200);
    const setupDenied = await callConnector(connector, {state: {}, secrets: {...base, include_tables: 'orders,products'}, setup_test: true}, {sink});
    expect(setupDenied.status).toBe(500);
    expect(setupDenied.body.errorMessage).toMatch(/may not read table public.products/);
    expect(lines.length).toBeGreaterThan(2);
    expect([...lines, ok.text, denied.text, setup.text, setupDenied.text].join('\n')).not.toContain(password);
  });

  it('setup test fails with a clear message for a missing table', async () => {
    const result = await callConnector(connector, {state: {}, secrets: sourceSecrets(db, {include_tables: 'ghost'}), setup_test: true});
    expect(result.status).toBe(400);
    expect(result.body.errorMessage).toMatch(/include_tables names table "ghost", which does not exist in schemas public/);
  });
});
