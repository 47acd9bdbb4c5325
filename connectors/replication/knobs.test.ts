// The original connector's remaining knobs against a real PostgreSQL, through the local Fivetran's checks into
// DuckDB: table_prefix (destination names), the kept connection's lifetime, CPU and disk pressure.
import {readFileSync, statfsSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {callConnector, syncAll, type SyncOptions} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {MAX_CONNECTION_AGE_MS} from './client.js';
import {APPLICATION_NAME} from './secrets.js';
import {useResourceReadings, type ResourceReadings} from './pressure.js';
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
    // incremental: the changed row is all that differs (the late-commit sweep may re-send unchanged rows while
    // another database's transaction holds the snapshot horizon back)
    const held = new Set(first.inserted('SOURCE_FIVETRAN_CONNECTOR_ORDERS').map((r) => JSON.stringify(r)));
    expect(second.inserted('SOURCE_FIVETRAN_CONNECTOR_ORDERS').filter((r) => !held.has(JSON.stringify(r))).map((r) => r.order_id)).toEqual([3]);
    expect(second.calls[0]!.body!.schema).toHaveProperty('SOURCE_FIVETRAN_CONNECTOR_ORDERS');
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

describe('CPU and disk pressure', () => {
  interface Decision {reason: string; limit_rows: number; rows: number}
  const runsOf = (result: Awaited<ReturnType<typeof sync>>) => [...new Map(result.inserted('replication_runs').map((row) => [row.call_id, row])).values()];

  /** Readings of a function whose clock moves 1 s per reading and whose CPU time moves `cpuShare` of that. */
  function readings(cpuShare: number, tmp: {freeBytes: number; sizeBytes: number} | null): ResourceReadings {
    let wall = 0;
    return {wallMs: () => (wall += 1000), cpuMicros: () => wall * 1000 * cpuShare, tmpSpace: () => tmp};
  }

  async function syncUnder(reading: ResourceReadings) {
    const restore = useResourceReadings(reading);
    try {
      return await sync(sourceSecrets(db, {include_tables: 'orders', custom_batch_size: '40'}));
    } finally {
      restore();
    }
  }

  it('halves batches when the call uses its wall time in CPU, and again when the temp dir is nearly full, recording both', async () => {
    const calm = await syncUnder(readings(0.2, {freeBytes: 900, sizeBytes: 1000}));
    const cpu = await syncUnder(readings(0.95, {freeBytes: 900, sizeBytes: 1000}));
    const both = await syncUnder(readings(0.95, {freeBytes: 50, sizeBytes: 1000}));
    const orders = await count('SELECT count(*) AS n FROM orders');
    for (const result of [calm, cpu, both]) expect(await result.rows('public_orders')).toHaveLength(orders);
    const limits = (result: typeof calm) => runsOf(result).flatMap((r) => (r.batch_decisions as unknown as Decision[]).filter((d) => d.rows > 0)).map((d) => [d.reason, d.limit_rows]);
    expect(new Set(limits(calm).map(String))).toEqual(new Set(['custom,40']));
    expect(new Set(limits(cpu).map(String))).toEqual(new Set(['cpu,20']));
    expect(new Set(limits(both).map(String))).toEqual(new Set(['disk,10']));
    const [calmRun, cpuRun, bothRun] = [calm, cpu, both].map((result) => runsOf(result)[0]!);
    expect(calmRun).toMatchObject({cpu_pressure_events: 0, disk_pressure_events: 0, min_tmp_free_bytes: 900, tmp_size_bytes: 1000});
    expect(cpuRun).toMatchObject({disk_pressure_events: 0});
    expect(cpuRun!.cpu_ratio as number).toBeCloseTo(0.95, 1);
    expect(calmRun!.cpu_ratio as number).toBeCloseTo(0.2, 1);
    expect(cpuRun!.cpu_pressure_events).toBe(cpuRun!.batches);
    expect(bothRun).toMatchObject({min_tmp_free_bytes: 50});
    expect(bothRun!.disk_pressure_events).toBe(bothRun!.batches);
  });

  it('records the real CPU time and temp dir of the call', async () => {
    const result = await sync(sourceSecrets(db, {include_tables: 'suppliers'}));
    const [run] = runsOf(result);
    const stats = statfsSync(tmpdir());
    expect(run!.tmp_size_bytes).toBe(stats.blocks * stats.bsize);
    expect(run!.min_tmp_free_bytes as number).toBeGreaterThan(0);
    expect(run!.cpu_ms as number).toBeGreaterThan(0);
    expect(run!.cpu_ratio as number).toBeGreaterThan(0);
  });
});

describe('custom_threads and custom_queue_size', () => {
  it('reads ahead on several streams and records in replication_runs only the rows each call sent', async () => {
    const result = await sync(sourceSecrets(db, {include_tables: 'orders,customers,order_items', custom_threads: '3', custom_queue_size: '3'}), {callOptions: {limits: {responseCapBytes: 32 * 1024}}});
    expect(result.calls.length).toBeGreaterThan(3);
    let sent = 0;
    for (const [table, source] of [['public_orders', 'orders'], ['public_customers', 'customers'], ['public_order_items', 'order_items']] as const) {
      const n = await count(`SELECT count(*) AS n FROM ${source}`);
      expect(result.inserted(table)).toHaveLength(n);
      expect(await result.rows(table)).toHaveLength(n);
      sent += n;
    }
    const runs = [...new Map(result.inserted('replication_runs').map((row) => [row.call_id, row])).values()];
    expect(runs.reduce((sum, r) => sum + (r.rows as number), 0)).toBe(sent);
    expect(await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`)).toBe(0);
  });

  it('runs custom_queue_size on one stream, and a state written with threads resumes with one', async () => {
    const secrets = sourceSecrets(db, {include_tables: 'orders', custom_threads: '4'});
    const limits = {responseCapBytes: 24 * 1024};
    const first = await callConnector(connector, {state: {}, secrets}, {limits});
    expect(first.body.hasMore).toBe(true);
    const split = first.body.state as {tables: Record<string, {parts?: unknown[]}>};
    expect(split.tables.public_orders!.parts!.length).toBeGreaterThan(1);
    const rest = await sync(sourceSecrets(db, {include_tables: 'orders', custom_queue_size: '4'}), {state: first.body.state, callOptions: {limits}});
    const ids = [...(first.body.insert.public_orders ?? []), ...rest.inserted('public_orders')].map((r) => r.order_id);
    expect(ids).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(new Set(ids).size).toBe(ids.length);
    expect((rest.state as {tables: Record<string, {phase: string; parts?: unknown}>}).tables.public_orders).toMatchObject({phase: 'incremental'});
  });
});
