// Multi-call syncs: resuming from every committed state gives the same warehouse, small response caps and
// memory pressure split a sync into many calls (recorded in replication_runs), and a connection killed
// mid-sync is reconnected and resumed from the last position.
import {readFileSync} from 'node:fs';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createMain, handleFunctionCall, type FunctionResponse} from '../../../sdk/index.js';
import {createFunctionServer, listen} from '../../../sdk/server.js';
import {createTestDatabase, type TestDatabase} from '../../../test/support/postgres.js';
import {connector} from '../index.js';
import {APPLICATION_NAME} from '../secrets.js';
import {closeKeptConnection} from '../source.js';
import {runSync, sourceSecrets, Warehouse, type CallRecord} from './fivetran-loop.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replication_resume');
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
  await db.query('SELECT generate_orders(1500)');
  await db.query(`CREATE TABLE readings (sensor text, reading numeric, taken_at timestamptz)`);
  await db.query(`INSERT INTO readings SELECT 's' || (g % 7), g / 10.0, timestamptz '2024-03-01 00:00+00' + g * interval '1 minute' FROM generate_series(1, 700) g`);
  await db.query('ANALYZE');
});
afterAll(async () => db?.drop());

const count = async (sql: string) => Number((await db.query<{n: string}>(sql)).rows[0]!.n);

/** Replays the sync from each call's input state on the warehouse as it was then; all must end the same. */
async function expectSameFromEveryCheckpoint(secrets: Record<string, unknown>, before: Warehouse, calls: CallRecord[], expected: string, limits: {responseCapBytes: number}) {
  const warehouse = before.clone();
  for (let i = 0; i < calls.length; i++) {
    const replay = warehouse.clone();
    const resumed = await runSync(secrets, calls[i]!.stateIn, replay, {limits});
    expect(resumed.calls.every((c) => c.status === 200)).toBe(true);
    expect(replay.snapshot(), `resuming from the state of call ${i + 1}`).toBe(expected);
    warehouse.apply(calls[i]!.response as FunctionResponse);
  }
  return calls.length;
}

describe('resuming', () => {
  it('gives the same final warehouse from every committed state of a multi-call load and incremental sync', async () => {
    const limits = {responseCapBytes: 48 * 1024};
    const secrets = sourceSecrets(db, {include_tables: 'orders,order_items,readings'});
    const start = new Warehouse();
    const reference = new Warehouse();
    const load = await runSync(secrets, {}, reference, {limits});
    expect(load.calls.length).toBeGreaterThan(8);
    expect(reference.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(reference.rows('public_readings')).toHaveLength(700);
    const afterLoad = reference.snapshot();
    expect(await expectSameFromEveryCheckpoint(secrets, start, load.calls, afterLoad, limits)).toBe(load.calls.length);

    await db.query(`UPDATE orders SET status = 'refunded' WHERE order_id % 50 = 0`);
    await db.query('SELECT generate_orders(300)');
    const beforeIncremental = reference.clone();
    const incremental = await runSync(secrets, load.state, reference, {limits});
    expect(incremental.calls.length).toBeGreaterThan(2);
    expect(reference.rows('public_orders').filter((r) => r.status === 'refunded')).toHaveLength(await count(`SELECT count(*) AS n FROM orders WHERE status = 'refunded'`));
    expect(reference.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    await expectSameFromEveryCheckpoint(secrets, beforeIncremental, incremental.calls, reference.snapshot(), limits);
  });
});

describe('budgets', () => {
  it('splits a sync into many calls under a small response cap, one replication_runs row per call', async () => {
    const cap = 16 * 1024;
    const warehouse = new Warehouse();
    const result = await runSync(sourceSecrets(db, {include_tables: 'orders'}), {}, warehouse, {limits: {responseCapBytes: cap}});
    expect(result.calls.length).toBeGreaterThan(20);
    for (const call of result.calls) expect(call.body.length).toBeLessThanOrEqual(cap + 2048);
    expect(warehouse.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    const runs = warehouse.rows('replication_runs');
    expect(runs).toHaveLength(result.calls.length);
    expect(runs.filter((r) => r.stop_reason === 'response_bytes')).toHaveLength(result.calls.length - 1);
    expect(runs.filter((r) => r.stop_reason === 'finished')).toHaveLength(1);
    const decisions = runs.flatMap((r) => r.batch_decisions as {reason: string; rows: number; bytes: number}[]);
    expect(decisions.some((d) => d.reason === 'response_bytes')).toBe(true);
    expect(decisions.every((d) => d.bytes <= cap)).toBe(true);
  });

  it('over HTTP, streams each call as its batches commit and the calls hold every row once', async () => {
    const cap = 64 * 1024;
    const server = createFunctionServer('replication-streamed', createMain(connector, {limits: {responseCapBytes: cap}, streamAfterBytes: 8 * 1024, sink: () => undefined}));
    const url = await listen(server, 0);
    try {
      const warehouse = new Warehouse();
      const result = await runSync(sourceSecrets(db, {include_tables: 'orders'}), {}, warehouse, {url});
      expect(result.calls.length).toBeGreaterThan(5);
      expect(result.calls.every((c) => c.status === 200)).toBe(true);
      // streamed: the rows come first and the state last
      expect(result.calls.slice(0, -1).every((c) => c.body.startsWith('{"insert":{"public_orders":[') && /,"state":\{.*\},"hasMore":true\}$/.test(c.body))).toBe(true);
      for (const call of result.calls) expect(call.body.length).toBeLessThanOrEqual(cap + 2048);
      expect(warehouse.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
      expect(warehouse.rows('replication_runs')).toHaveLength(result.calls.length);
    } finally {
      server.close();
    }
  });

  it('shrinks batches under memory pressure and returns early with hasMore, recording the pressure', async () => {
    const warehouse = new Warehouse();
    // a 1 MB limit is always exceeded: every batch is the smallest, and every call stops at its first checkpoint
    const result = await runSync(sourceSecrets(db, {include_tables: 'suppliers'}), {}, warehouse, {limits: {memoryMb: 1}});
    expect(warehouse.rows('public_suppliers')).toHaveLength(4);
    expect(result.calls.length).toBeGreaterThan(4);
    expect(result.calls.slice(0, -1).every((c) => c.response?.hasMore === true)).toBe(true);
    const runs = warehouse.rows('replication_runs');
    expect(runs.filter((r) => r.stop_reason === 'memory').length).toBe(result.calls.length - 1);
    expect(runs.every((r) => (r.pressure_events as number) > 0 || r.batches === 0)).toBe(true);
    const decisions = runs.flatMap((r) => r.batch_decisions as {reason: string; limit_rows: number}[]);
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions.every((d) => d.reason === 'memory' && d.limit_rows === 1)).toBe(true);
  });
  it('fails with what to change when one row is larger than any response can hold, after the rows before it', async () => {
    await db.query(`CREATE TABLE blobs (id int PRIMARY KEY, body text)`);
    await db.query(`INSERT INTO blobs SELECT g, repeat('y', CASE WHEN g = 30 THEN 200000 ELSE 1000 END) FROM generate_series(1, 40) g`);
    const warehouse = new Warehouse();
    const result = await runSync(sourceSecrets(db, {include_tables: 'blobs'}), {}, warehouse, {limits: {responseCapBytes: 64 * 1024}});
    const failed = result.calls.at(-1)!;
    expect(failed.status).toBe(400);
    expect(JSON.parse(failed.body).errorMessage).toBe(
      'a row of public.blobs is 0.2 MiB of JSON, more than one response can hold (response_cap_bytes 0.1 MiB); raise response_cap_bytes for this function in deploy.yaml (Cloud Functions allows up to 32 MiB) or exclude the table',
    );
    // the rows before it arrived, and the failing call committed nothing
    expect(warehouse.rows('public_blobs').map((r) => r.id)).toEqual(Array.from({length: 29}, (_, i) => i + 1));
  });
});

describe('between the calls of a sync', () => {
  const open = () => count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`);
  const pids = async () => (await db.query<{pid: number}>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [APPLICATION_NAME])).rows.map((r) => r.pid);

  it('closes its one connection at the end of every call by default', async () => {
    const warehouse = new Warehouse();
    const between: number[] = [];
    const result = await runSync(sourceSecrets(db, {include_tables: 'orders'}), {}, warehouse, {
      limits: {responseCapBytes: 64 * 1024},
      beforeCall: async (n) => void (n > 0 && between.push(await open())),
    });
    expect(result.calls.length).toBeGreaterThan(5);
    expect(between.every((n) => n === 0)).toBe(true);
    expect(warehouse.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(warehouse.rows('replication_runs').every((r) => r.connection_reused === false && r.carried_rows === 0)).toBe(true);
  });

  it('with keep_connection_between_calls, keeps one connection from call to call, each call starting with the batch the previous one requested, and closes it when the sync ends', async () => {
    const warehouse = new Warehouse();
    const seen: number[][] = [];
    const result = await runSync(sourceSecrets(db, {include_tables: 'orders', keep_connection_between_calls: 'true'}), {}, warehouse, {
      limits: {responseCapBytes: 64 * 1024},
      beforeCall: async (n) => void (n > 0 && seen.push(await pids())),
    });
    expect(result.calls.length).toBeGreaterThan(5);
    // between calls: the one connection the first call opened
    expect(new Set(seen.flat()).size).toBe(1);
    expect(seen.every((p) => p.length === 1)).toBe(true);
    expect(await open()).toBe(0);
    expect(warehouse.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    const runs = warehouse.rows('replication_runs').sort((a, b) => String(a.started_at).localeCompare(String(b.started_at)));
    expect(runs[0]).toMatchObject({connection_reused: false, carried_rows: 0});
    expect(runs.slice(1).every((r) => r.connection_reused === true)).toBe(true);
    expect(runs.slice(1).filter((r) => (r.carried_rows as number) > 0).length).toBeGreaterThan(runs.length / 2);
  });

  it('does not hand a batch requested for one configuration to a call with another (a different filter)', async () => {
    const europe = sourceSecrets(db, {include_tables: 'orders', region: 'Europe', keep_connection_between_calls: 'true'});
    const call = async (secrets: Record<string, unknown>, state: Record<string, unknown>) =>
      JSON.parse((await handleFunctionCall(connector, {state, secrets}, {sink: () => undefined, limits: {responseCapBytes: 32 * 1024}})).body) as FunctionResponse;
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
    const warehouse = new Warehouse();
    let terminated = 0;
    const result = await runSync(sourceSecrets(db, {include_tables: 'orders', retry_sleep_seconds: '30', keep_connection_between_calls: 'true'}), {}, warehouse, {
      limits: {responseCapBytes: 64 * 1024},
      beforeCall: async (n) => {
        if (n !== 2) return;
        terminated = await count(`SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`);
        // the client sees its connection end before the next call takes it
        await new Promise((resolve) => setTimeout(resolve, 50));
      },
    });
    expect(terminated).toBe(1);
    expect(result.calls.every((c) => c.status === 200)).toBe(true);
    expect(warehouse.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    const runs = warehouse.rows('replication_runs');
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
    const warehouse = new Warehouse();
    let result: Awaited<ReturnType<typeof runSync>> | undefined;
    const killed = await killDuringCall(async () => {
      result = await runSync(sourceSecrets(db, {include_tables: 'orders', custom_batch_size: '5', max_retries: '3'}), {}, warehouse);
    });
    expect(killed).toBe(1);
    expect(result!.calls.every((c) => c.status === 200)).toBe(true);
    expect(warehouse.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    const runs = warehouse.rows('replication_runs');
    expect(runs.reduce((sum, r) => sum + (r.retries as number), 0)).toBe(1);
    // the sync finished: its connection is closed, not kept for a next call
    expect(await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${APPLICATION_NAME}' AND datname = current_database()`)).toBe(0);
  });

  it('without retries left, answers the committed work with hasMore and the next call resumes', {retry: 3}, async () => {
    const warehouse = new Warehouse();
    let result: Awaited<ReturnType<typeof runSync>> | undefined;
    const lines: string[] = [];
    const killed = await killDuringCall(async () => {
      result = await runSync(sourceSecrets(db, {include_tables: 'orders', custom_batch_size: '5', max_retries: '0'}), {}, warehouse, {sink: (line) => lines.push(line)});
    });
    expect(killed).toBeGreaterThan(0);
    expect(result!.calls.every((c) => c.status === 200)).toBe(true);
    expect(lines.some((line) => line.includes('stopping early after a retriable source error'))).toBe(true);
    expect(warehouse.rows('public_orders')).toHaveLength(await count('SELECT count(*) AS n FROM orders'));
    expect(warehouse.rows('replication_runs').some((r) => r.stop_reason === 'error' && typeof r.last_error === 'string')).toBe(true);
  });

  it('fails with a retriable error after max_retries when the server cannot be reached', async () => {
    const result = await handleFunctionCall(connector, {state: {}, secrets: sourceSecrets(db, {port: '1', max_retries: '2'})}, {sink: () => undefined});
    expect(result.status).toBe(500);
    expect(JSON.parse(result.body)).toMatchObject({errorType: 'SourceError'});
    expect(JSON.parse(result.body).errorMessage).toMatch(/refused the connection/);
  });
});
