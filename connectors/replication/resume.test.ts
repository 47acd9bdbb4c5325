// Multi-call syncs: resuming from every committed state gives the same warehouse, small response caps and
// memory pressure split a sync into many calls (recorded in replication_runs), and a connection killed
// mid-sync is reconnected and resumed from the last position.
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import type {Row} from '../../sdk/index.js';
import {callConnector, serveConnector, syncAll, TestSyncFailed, TestWarehouse, type SyncOptions, type SyncResult} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {APPLICATION_NAME} from './secrets.js';
import {closeKeptConnection} from './client.js';
import {sourceSecrets} from './source-secrets.js';

let db: TestDatabase;
/** DuckDB copies of warehouses, as they were before a call */
let copies: string;

beforeAll(async () => {
  db = await createTestDatabase('replication_resume');
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
  await db.query('SELECT generate_orders(1500)');
  await db.query(`CREATE TABLE readings (sensor text, reading numeric, taken_at timestamptz)`);
  await db.query(`INSERT INTO readings SELECT 's' || (g % 7), g / 10.0, timestamptz '2024-03-01 00:00+00' + g * interval '1 minute' FROM generate_series(1, 700) g`);
  await db.query('ANALYZE');
  copies = mkdtempSync(path.join(tmpdir(), 'replication-resume-'));
});
afterAll(async () => {
  rmSync(copies, {recursive: true, force: true});
  await db?.drop();
});

const count = async (sql: string) => Number((await db.query<{n: string}>(sql)).rows[0]!.n);

const sync = (secrets: Record<string, unknown>, options: SyncOptions = {}) => syncAll(connector, secrets, options);

let copied = 0;

/** Copies a warehouse into a DuckDB file of its own; returns the file. */
async function copyOf(warehouse: TestWarehouse): Promise<string> {
  const file = path.join(copies, `copy-${++copied}.duckdb`);
  await warehouse.query(`ATTACH '${file}' AS copy_${copied}`);
  await warehouse.query(`COPY FROM DATABASE memory TO copy_${copied}`);
  await warehouse.query(`DETACH copy_${copied}`);
  return file;
}

/**
 * postgres_tables' figures from the catalog's statistics (pg_class.reltuples, relpages), which autovacuum may
 * refresh between any two syncs of a test (one run failed when ANALYZE moved orders from 1,508 to 1,808 rows)
 */
const STATISTICS = ['estimated_rows', 'estimated_bytes', 'average_row_bytes', 'size_category'];

/**
 * A canonical text of the replicated tables (not the per-call replication_runs), without _fivetran_synced or
 * postgres_tables' statistics.
 */
async function snapshot(warehouse: TestWarehouse): Promise<string> {
  const out: Record<string, Row[]> = {};
  for (const {table} of await warehouse.tables('replication')) {
    if (table === 'replication_runs') continue;
    const rows = await warehouse.rows('replication', table);
    out[table] = table === 'postgres_tables' ? rows.map((row) => Object.fromEntries(Object.entries(row).filter(([column]) => !STATISTICS.includes(column)))) : rows;
  }
  return JSON.stringify(out, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/**
 * A sync on `warehouse` that keeps a copy of the warehouse as it was before each call, so that the sync can
 * be replayed from each call's committed state on the warehouse as it was then.
 */
async function syncKeepingCopies(secrets: Record<string, unknown>, warehouse: TestWarehouse, options: SyncOptions): Promise<{result: SyncResult; before: string[]}> {
  const before: string[] = [];
  const result = await sync(secrets, {...options, warehouse, beforeCall: async () => void before.push(await copyOf(warehouse))});
  return {result, before};
}

/** Replays the sync from each call's input state on the warehouse as it was then; all must end the same. */
async function expectSameFromEveryCheckpoint(secrets: Record<string, unknown>, run: {result: SyncResult; before: string[]}, expected: string, limits: {responseCapBytes: number}) {
  expect(run.before).toHaveLength(run.result.calls.length);
  for (const [i, call] of run.result.calls.entries()) {
    const replay = await TestWarehouse.open(run.before[i]);
    try {
      const resumed = await sync(secrets, {state: call.stateIn, warehouse: replay, callOptions: {limits}});
      expect(resumed.calls.every((c) => c.status === 200)).toBe(true);
      expect(await snapshot(replay), `resuming from the state of call ${i + 1}`).toBe(expected);
    } finally {
      await replay.close();
    }
  }
  return run.result.calls.length;
}

describe('resuming', () => {
  it('gives the same final warehouse from every committed state of a multi-call load and incremental sync', {timeout: 120_000}, async () => {
    const limits = {responseCapBytes: 48 * 1024};
    const secrets = sourceSecrets(db, {include_tables: 'orders,order_items,readings'});
    const reference = await TestWarehouse.open();
    const load = await syncKeepingCopies(secrets, reference, {callOptions: {limits}});
    expect(load.result.calls.length).toBeGreaterThan(8);
    expect(await load.result.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(await load.result.rows('public_readings')).toHaveLength(700);
    expect(await expectSameFromEveryCheckpoint(secrets, load, await snapshot(reference), limits)).toBe(load.result.calls.length);

    await db.query(`UPDATE orders SET status = 'refunded' WHERE order_id % 50 = 0`);
    await db.query('SELECT generate_orders(300)');
    const incremental = await syncKeepingCopies(secrets, reference, {state: load.result.state, callOptions: {limits}});
    expect(incremental.result.calls.length).toBeGreaterThan(2);
    const orders = await incremental.result.rows('public_orders');
    expect(orders.filter((r) => r.status === 'refunded')).toHaveLength(await count(`SELECT count(*) AS n FROM orders WHERE status = 'refunded'`));
    expect(orders).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    await expectSameFromEveryCheckpoint(secrets, incremental, await snapshot(reference), limits);
    await reference.close();
  });
});

describe('custom_threads', () => {
  const tables = 'orders,order_items,meters';
  type Parts = {tables: Record<string, {parts?: unknown[]}>};
  const splitTables = (result: SyncResult) => new Set(result.committedStates.flatMap((s) => Object.entries((s as Parts).tables).filter(([, t]) => (t.parts?.length ?? 0) > 1).map(([dest]) => dest)));

  it('reads tables and key and page ranges of large ones on several streams, each row once, and gives the same warehouse from every committed state', {timeout: 240_000}, async () => {
    // a table without a primary key, larger than one response
    await db.query(`CREATE TABLE meters (sensor text, reading numeric, note text)`);
    await db.query(`INSERT INTO meters SELECT 'm' || (g % 11), g / 4.0, repeat('n', g % 40) FROM generate_series(1, 3000) g`);
    await db.query('ANALYZE meters');
    const limits = {responseCapBytes: 96 * 1024};
    const secrets = sourceSecrets(db, {include_tables: tables, custom_threads: '4', custom_queue_size: '2'});
    const reference = await TestWarehouse.open();
    const load = await syncKeepingCopies(secrets, reference, {callOptions: {limits}});
    expect(load.result.calls.length).toBeGreaterThan(4);
    // orders by primary key ranges, meters (no key) by heap page ranges
    expect(splitTables(load.result)).toEqual(new Set(['public_orders', 'public_meters']));
    for (const [table, source] of [['public_orders', 'orders'], ['public_order_items', 'order_items'], ['public_meters', 'meters']] as const) {
      const n = await count(`SELECT count(*) AS n FROM ${source}`);
      expect(await load.result.rows(table)).toHaveLength(table === 'public_meters' ? await count(`SELECT count(DISTINCT m) AS n FROM meters m`) : n);
      // every row sent once over the calls of the load: no range overlaps another, no checkpoint repeats a batch
      expect(load.result.inserted(table)).toHaveLength(n);
    }
    // the same warehouse as one stream gives
    const single = await sync(sourceSecrets(db, {include_tables: tables}), {callOptions: {limits}});
    expect(await snapshot(single.warehouse)).toBe(await snapshot(reference));
    await single.warehouse.close();
    // several streams' batches in one response
    const runs = runsOf(load.result);
    expect(runs.some((r) => (r.tables as string[]).length > 1)).toBe(true);
    await expectSameFromEveryCheckpoint(secrets, load, await snapshot(reference), limits);

    await db.query(`UPDATE orders SET status = 'lost' WHERE order_id % 70 = 0`);
    await db.query('SELECT generate_orders(200)');
    const incremental = await syncKeepingCopies(secrets, reference, {state: load.result.state, callOptions: {limits}});
    const orders = await incremental.result.rows('public_orders');
    expect(orders.filter((r) => r.status === 'lost')).toHaveLength(await count(`SELECT count(*) AS n FROM orders WHERE status = 'lost'`));
    expect(orders).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    await expectSameFromEveryCheckpoint(secrets, incremental, await snapshot(reference), limits);
    await reference.close();
  });
});

interface Decision {
  reason: string;
  rows: number;
  bytes: number;
  limit_rows: number;
}

/** The replication_runs rows as the function sent them: one per call, its last version (it may be re-emitted). */
const runsOf = (result: SyncResult) => [...new Map(result.inserted('replication_runs').map((row) => [row.call_id, row])).values()];

describe('budgets', () => {
  it('splits a sync into many calls under a small response cap, one replication_runs row per call', async () => {
    const cap = 16 * 1024;
    const result = await sync(sourceSecrets(db, {include_tables: 'orders'}), {callOptions: {limits: {responseCapBytes: cap}}});
    expect(result.calls.length).toBeGreaterThan(20);
    for (const call of result.calls) expect(call.text.length).toBeLessThanOrEqual(cap + 2048);
    expect(await result.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(await result.rows('replication_runs')).toHaveLength(result.calls.length);
    const runs = runsOf(result);
    expect(runs).toHaveLength(result.calls.length);
    expect(runs.filter((r) => r.stop_reason === 'response_bytes')).toHaveLength(result.calls.length - 1);
    expect(runs.filter((r) => r.stop_reason === 'finished')).toHaveLength(1);
    const decisions = runs.flatMap((r) => r.batch_decisions as unknown as Decision[]);
    expect(decisions.some((d) => d.reason === 'response_bytes')).toBe(true);
    expect(decisions.every((d) => d.bytes <= cap)).toBe(true);
  });

  it('over HTTP, streams each call as its batches commit and the calls hold every row once', async () => {
    const cap = 64 * 1024;
    const server = await serveConnector(connector, {limits: {responseCapBytes: cap}, streamAfterBytes: 8 * 1024});
    try {
      const result = await syncAll(undefined, sourceSecrets(db, {include_tables: 'orders'}), {url: server.url, schema: 'replication'});
      expect(result.calls.length).toBeGreaterThan(5);
      expect(result.calls.every((c) => c.status === 200)).toBe(true);
      // streamed: the rows come first and the state last
      expect(result.calls.slice(0, -1).every((c) => c.text.startsWith('{"insert":{"public_orders":[') && /,"state":\{.*\},"hasMore":true\}$/.test(c.text))).toBe(true);
      for (const call of result.calls) expect(call.text.length).toBeLessThanOrEqual(cap + 2048);
      expect(await result.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
      expect(result.inserted('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
      expect(await result.rows('replication_runs')).toHaveLength(result.calls.length);
    } finally {
      await server.close();
    }
  });

  it('shrinks batches under memory pressure and returns early with hasMore, recording the pressure', async () => {
    // a 1 MB limit is always exceeded: every batch is the smallest, and every call stops at its first checkpoint
    const result = await sync(sourceSecrets(db, {include_tables: 'suppliers'}), {callOptions: {limits: {memoryMb: 1}}});
    expect(await result.rows('public_suppliers')).toHaveLength(4);
    expect(result.calls.length).toBeGreaterThan(4);
    expect(result.calls.slice(0, -1).every((c) => c.body?.hasMore === true)).toBe(true);
    const runs = runsOf(result);
    expect(runs.filter((r) => r.stop_reason === 'memory').length).toBe(result.calls.length - 1);
    expect(runs.every((r) => (r.pressure_events as number) > 0 || r.batches === 0)).toBe(true);
    const decisions = runs.flatMap((r) => r.batch_decisions as unknown as Decision[]);
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions.every((d) => d.reason === 'memory' && d.limit_rows === 1)).toBe(true);
  });

  it('fails with what to change when one row is larger than any response can hold, after the rows before it', async () => {
    await db.query(`CREATE TABLE blobs (id int PRIMARY KEY, body text)`);
    await db.query(`INSERT INTO blobs SELECT g, repeat('y', CASE WHEN g = 30 THEN 200000 ELSE 1000 END) FROM generate_series(1, 40) g`);
    const warehouse = await TestWarehouse.open();
    const failure = await sync(sourceSecrets(db, {include_tables: 'blobs'}), {warehouse, callOptions: {limits: {responseCapBytes: 64 * 1024}}}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TestSyncFailed);
    const failed = (failure as TestSyncFailed).last!;
    expect(failed.status).toBe(400);
    expect(failed.body!.errorMessage).toBe(
      'a row of public.blobs is 0.2 MiB of JSON, more than one response can hold (response_cap_bytes 0.1 MiB); raise response_cap_bytes for this function in deploy.yaml (Cloud Functions allows up to 32 MiB) or exclude the table',
    );
    // the rows before it arrived, and the failing call committed nothing
    expect((await warehouse.rows('replication', 'public_blobs', {orderBy: ['id']})).map((r) => r.id)).toEqual(Array.from({length: 29}, (_, i) => i + 1));
    await warehouse.close();
  });
});

describe('between the calls of a sync', () => {
  const open = () => count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`);
  const pids = async () => (await db.query<{pid: number}>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [APPLICATION_NAME])).rows.map((r) => r.pid);

  it('closes its one connection at the end of every call by default', async () => {
    const between: number[] = [];
    const result = await sync(sourceSecrets(db, {include_tables: 'orders'}), {
      callOptions: {limits: {responseCapBytes: 64 * 1024}},
      beforeCall: async (n) => void (n > 0 && between.push(await open())),
    });
    expect(result.calls.length).toBeGreaterThan(5);
    expect(between.every((n) => n === 0)).toBe(true);
    expect(await result.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(runsOf(result).every((r) => r.connection_reused === false && r.carried_rows === 0)).toBe(true);
  });

  it('with keep_connection_between_calls, keeps one connection from call to call, each call starting with the batch the previous one requested, and closes it when the sync ends', async () => {
    const seen: number[][] = [];
    const result = await sync(sourceSecrets(db, {include_tables: 'orders', keep_connection_between_calls: 'true'}), {
      callOptions: {limits: {responseCapBytes: 64 * 1024}},
      beforeCall: async (n) => void (n > 0 && seen.push(await pids())),
    });
    expect(result.calls.length).toBeGreaterThan(5);
    // between calls: the one connection the first call opened
    expect(new Set(seen.flat()).size).toBe(1);
    expect(seen.every((p) => p.length === 1)).toBe(true);
    expect(await open()).toBe(0);
    expect(await result.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    const runs = runsOf(result);
    expect(runs[0]).toMatchObject({connection_reused: false, carried_rows: 0});
    expect(runs.slice(1).every((r) => r.connection_reused === true)).toBe(true);
    expect(runs.slice(1).filter((r) => (r.carried_rows as number) > 0).length).toBeGreaterThan(runs.length / 2);
  });

  it('does not hand a batch requested for one configuration to a call with another (a different filter)', async () => {
    const europe = sourceSecrets(db, {include_tables: 'orders', region: 'Europe', keep_connection_between_calls: 'true'});
    const call = async (secrets: Record<string, unknown>, state: Record<string, unknown>) => (await callConnector(connector, {state, secrets}, {limits: {responseCapBytes: 32 * 1024}})).body;
    // stops with more to do, its next batch requested
    const one = await call(europe, {});
    expect(one.hasMore).toBe(true);
    // the same position, without the region filter: rows of every region, none carried
    const everywhere = await call(sourceSecrets(db, {include_tables: 'orders', keep_connection_between_calls: 'true'}), one.state);
    const regions = new Set(everywhere.insert.public_orders!.map((r) => r.region));
    expect(regions.size).toBeGreaterThan(1);
    expect(everywhere.insert.replication_runs![0]).toMatchObject({connection_reused: true, carried_rows: 0});
    const again = await call(europe, one.state);
    expect(again.insert.public_orders!.every((r) => r.region === 'Europe')).toBe(true);
    await closeKeptConnection();
  });

  it('opens a new connection, without counting a retry, when the server closed the kept one between calls', async () => {
    let terminated = 0;
    const result = await sync(sourceSecrets(db, {include_tables: 'orders', retry_sleep_seconds: '30', keep_connection_between_calls: 'true'}), {
      callOptions: {limits: {responseCapBytes: 64 * 1024}},
      beforeCall: async (n) => {
        if (n !== 2) return;
        terminated = await count(`SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`);
        // the client sees its connection end before the next call takes it
        await new Promise((resolve) => setTimeout(resolve, 50));
      },
    });
    expect(terminated).toBe(1);
    expect(result.calls.every((c) => c.status === 200)).toBe(true);
    expect(await result.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    const runs = runsOf(result);
    expect(runs.reduce((sum, r) => sum + (r.retries as number), 0)).toBe(0);
    expect(runs.filter((r) => r.connection_reused === false)).toHaveLength(2);
  });
});

describe('connection loss', () => {
  /** Terminates the connector's connection once, in the middle of a batch query. */
  async function killDuringCall(run: () => Promise<unknown>): Promise<number> {
    const admin = new pg.Client({connectionString: db.url});
    await admin.connect();
    let killed = 0;
    let done = false;
    const killer = (async () => {
      while (!done && killed === 0) {
        const {rows} = await admin.query<{n: number}>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND state = 'active' AND query LIKE 'COPY (%'`,
          [APPLICATION_NAME],
        );
        killed += rows[0]!.n;
      }
    })();
    try {
      await run();
    } finally {
      done = true;
      await killer;
      await admin.end();
    }
    return killed;
  }

  // The killer polls for a batch in flight; on a loaded machine a batch can finish between two polls, so
  // these tests may need another try to catch one (the assertions stay the same).
  it('reconnects after pg_terminate_backend mid-call and resumes from the last position', {retry: 3}, async () => {
    let result: SyncResult | undefined;
    const killed = await killDuringCall(async () => {
      result = await sync(sourceSecrets(db, {include_tables: 'orders', custom_batch_size: '5', max_retries: '3'}));
    });
    expect(killed).toBe(1);
    expect(result!.calls.every((c) => c.status === 200)).toBe(true);
    expect(await result!.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(runsOf(result!).reduce((sum, r) => sum + (r.retries as number), 0)).toBe(1);
    // the sync finished: its connection is closed, not kept for a next call
    expect(await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`)).toBe(0);
  });

  it('with custom_threads, reconnects the stream whose connection was killed and every row arrives once', {retry: 3}, async () => {
    let result: SyncResult | undefined;
    const killed = await killDuringCall(async () => {
      result = await sync(sourceSecrets(db, {include_tables: 'orders,order_items', custom_threads: '3', custom_batch_size: '20', max_retries: '3'}), {callOptions: {limits: {responseCapBytes: 64 * 1024}}});
    });
    expect(killed).toBe(1);
    expect(result!.calls.every((c) => c.status === 200)).toBe(true);
    for (const [table, source] of [['public_orders', 'orders'], ['public_order_items', 'order_items']] as const) {
      const n = await count(`SELECT count(*) AS n FROM ${source}`);
      expect(await result!.rows(table)).toHaveLength(n);
      expect(result!.inserted(table)).toHaveLength(n);
    }
    // the retry is in a call's row unless the killed read was one the call read ahead and did not wait for
    expect(runsOf(result!).reduce((sum, r) => sum + (r.retries as number), 0)).toBeLessThanOrEqual(1);
    // every stream's connection is closed when its call ends
    expect(await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`)).toBe(0);
  });

  it('without retries left, answers the committed work with hasMore and the next call resumes', {retry: 3}, async () => {
    let result: SyncResult | undefined;
    const lines: string[] = [];
    const killed = await killDuringCall(async () => {
      result = await sync(sourceSecrets(db, {include_tables: 'orders', custom_batch_size: '5', max_retries: '0'}), {callOptions: {sink: (line) => lines.push(line)}});
    });
    expect(killed).toBeGreaterThan(0);
    expect(result!.calls.every((c) => c.status === 200)).toBe(true);
    expect(lines.some((line) => line.includes('stopping early after a retriable source error'))).toBe(true);
    expect(await result!.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(runsOf(result!).some((r) => r.stop_reason === 'error' && typeof r.last_error === 'string')).toBe(true);
  });

  it('fails with a retriable error after max_retries when the server cannot be reached', async () => {
    const result = await callConnector(connector, {state: {}, secrets: sourceSecrets(db, {port: '1', max_retries: '2'})});
    expect(result.status).toBe(500);
    expect(result.body).toMatchObject({errorType: 'SourceError'});
    expect(result.body.errorMessage).toMatch(/refused the connection/);
  });
});
