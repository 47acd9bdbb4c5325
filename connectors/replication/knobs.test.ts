// The original connector's remaining knobs against a real PostgreSQL, through the local Fivetran's checks into
// DuckDB: table_prefix (destination names), the kept connection's lifetime, CPU and disk pressure.
import {readFileSync} from 'node:fs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {callConnector, syncAll, type SyncOptions} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {MAX_CONNECTION_AGE_MS} from './client.js';
import {APPLICATION_NAME} from './secrets.js';
import {sourceSecrets} from './source-secrets.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replication_knobs');
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
  await db.query('SELECT generate_orders(400)');
  await db.query('ANALYZE');
});
afterAll(async () => db?.drop());

const count = async (sql: string) => Number((await db.query<{n: string}>(sql)).rows[0]!.n);
const sync = (secrets: Record<string, unknown>, options: SyncOptions = {}) => syncAll(connector, secrets, options);

describe('table_prefix', () => {
  it('lands tables in <PREFIX>_<TABLE> in the prefix case, keyed so in the state, and an incremental sync goes on from it', async () => {
    const secrets = sourceSecrets(db, {include_tables: 'orders,customers', table_prefix: 'SOURCE_FIVETRAN_CONNECTOR'});
    const first = await sync(secrets, {callOptions: {limits: {responseCapBytes: 32 * 1024}}});
    expect(first.calls.length).toBeGreaterThan(2);
    const schema = first.calls[0]!.body!.schema;
    expect(Object.keys(schema).sort()).toEqual(['SOURCE_FIVETRAN_CONNECTOR_CUSTOMERS', 'SOURCE_FIVETRAN_CONNECTOR_ORDERS', 'postgres_columns', 'postgres_tables', 'replication_runs']);
    expect(await first.rows('SOURCE_FIVETRAN_CONNECTOR_ORDERS')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(await first.rows('SOURCE_FIVETRAN_CONNECTOR_CUSTOMERS')).toHaveLength(await count('SELECT count(*) AS n FROM customers'));
    expect(await first.rows('public_orders')).toEqual([]);
    expect(Object.keys(first.state.tables as object).sort()).toEqual(['SOURCE_FIVETRAN_CONNECTOR_CUSTOMERS', 'SOURCE_FIVETRAN_CONNECTOR_ORDERS']);
    expect(first.inserted('postgres_tables').map((r) => r.destination_table).sort()).toEqual(['SOURCE_FIVETRAN_CONNECTOR_CUSTOMERS', 'SOURCE_FIVETRAN_CONNECTOR_ORDERS']);

    await db.query(`UPDATE orders SET status = 'refunded' WHERE order_id = 3`);
    const second = await sync(secrets, {state: first.state, warehouse: first.warehouse});
    expect(second.inserted('SOURCE_FIVETRAN_CONNECTOR_ORDERS').map((r) => r.order_id)).toContain(3);
    // incremental: far fewer rows than a reload
    expect(second.inserted('SOURCE_FIVETRAN_CONNECTOR_ORDERS').length).toBeLessThan(50);
    expect((await second.rows('SOURCE_FIVETRAN_CONNECTOR_ORDERS')).find((r) => r.order_id === 3)?.status).toBe('refunded');
    await first.warehouse.close();
  });

  it('keeps a lower-case prefix lower case, and the default names are unchanged without one', async () => {
    const lower = await sync(sourceSecrets(db, {include_tables: 'order_items', table_prefix: 'src_'}));
    expect(await lower.rows('src_order_items')).toHaveLength(await count('SELECT count(*) AS n FROM order_items'));
    const plain = await sync(sourceSecrets(db, {include_tables: 'order_items'}));
    expect(Object.keys(plain.state.tables as object)).toEqual(['public_order_items']);
  });

  it('reloads into the new tables when the prefix changes (the state is keyed by destination)', async () => {
    const before = await sync(sourceSecrets(db, {include_tables: 'suppliers', table_prefix: 'old'}));
    const after = await sync(sourceSecrets(db, {include_tables: 'suppliers', table_prefix: 'new'}), {state: before.state, warehouse: before.warehouse});
    expect(await after.rows('new_suppliers')).toHaveLength(await count('SELECT count(*) AS n FROM suppliers'));
    expect(Object.keys(after.state.tables as object)).toEqual(['new_suppliers']);
    await before.warehouse.close();
  });

  it.each([
    [{table_prefix: 'bad-prefix'}, 'table_prefix "bad-prefix" is not a table name prefix; use letters, digits and underscores, not starting with a digit, at most 63 characters (e.g. SOURCE_FIVETRAN_CONNECTOR)'],
    [{table_prefix: 'replication', include_tables: 'runs'}, 'table_prefix "replication" would put public.runs in replication_runs, the connector\'s own metadata table; choose another prefix or exclude the table'],
    [{table_prefix: 'SRC', schemas: 'public,other', include_tables: 'public.customers,other.customers'}, 'table_prefix "SRC" would put both other.customers and public.customers in SRC_CUSTOMERS; exclude one of them (exclude_tables), or leave table_prefix unset to name tables <schema>_<table>'],
  ])('fails with what to change for %j', async (extra, message) => {
    await db.query(`CREATE TABLE IF NOT EXISTS public.runs (id int PRIMARY KEY)`);
    await db.query(`CREATE SCHEMA IF NOT EXISTS other`);
    await db.query(`CREATE TABLE IF NOT EXISTS other.customers (id int PRIMARY KEY)`);
    const result = await callConnector(connector, {state: {}, secrets: sourceSecrets(db, extra)});
    expect(result.status).toBe(400);
    expect(result.body).toMatchObject({errorType: 'InvalidConfiguration', errorMessage: message});
  });
});

describe('a kept connection', () => {
  it('is closed once 3 hours old, on the calls\' clock, and the next call opens a new one', async () => {
    // each call of the sync comes 50 minutes after the previous one on the injected clock
    const step = 50 * 60 * 1000;
    let offset = 0;
    const now = () => Date.now() + offset;
    const pids: number[][] = [];
    const result = await sync(sourceSecrets(db, {include_tables: 'orders', keep_connection_between_calls: 'true'}), {
      callOptions: {limits: {responseCapBytes: 16 * 1024}, now},
      beforeCall: async (n) => {
        offset = n * step;
        if (n > 0) pids.push((await db.query<{pid: number}>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [APPLICATION_NAME])).rows.map((r) => r.pid));
      },
    });
    expect(result.calls.length).toBeGreaterThan(9);
    expect(await result.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    const runs = [...new Map(result.inserted('replication_runs').map((row) => [row.call_id, row])).values()];
    // opened at 0, 200, 400 ... minutes: the call at 150 minutes still took it (2.5 h old), the one at 200 did not
    const opensEvery = Math.ceil(MAX_CONNECTION_AGE_MS / step);
    expect(opensEvery).toBe(4);
    expect(runs.map((r) => r.connection_reused)).toEqual(runs.map((_, i) => i % opensEvery !== 0));
    // between calls one connection at most, a new one after each 3 hours
    expect(pids.every((p) => p.length === 1)).toBe(true);
    expect(new Set(pids.flat()).size).toBe(Math.ceil((result.calls.length - 1) / opensEvery));
    expect(await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`)).toBe(0);
  });
});
