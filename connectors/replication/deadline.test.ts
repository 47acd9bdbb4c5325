// A call answers before its deadline whatever PostgreSQL keeps it waiting on: at the deadline the query in
// flight is cancelled and the call answers its last checkpoint with hasMore, or an error naming the lock.
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {callConnector, syncAll} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {sourceSecrets} from './source-secrets.js';

let db: TestDatabase;
let locker: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('replication_deadline');
  await db.query(`CREATE TABLE accounts (id int PRIMARY KEY, name text)`);
  await db.query(`INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 50) g`);
  await db.query(`CREATE TABLE orders (id int PRIMARY KEY, total numeric)`);
  await db.query(`INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 50) g`);
  locker = new pg.Client({connectionString: db.url});
  await locker.connect();
});
afterAll(async () => {
  await locker?.end();
  await db?.drop();
});

const limits = {timeoutSeconds: 6};

async function timed<T>(work: Promise<T>): Promise<{value: T; ms: number}> {
  const started = Date.now();
  const value = await work;
  return {value, ms: Date.now() - started};
}

/** Holds an ACCESS EXCLUSIVE lock on `table` in another session while `work` runs. */
async function whileLocked<T>(table: string, work: () => Promise<T>): Promise<T> {
  await locker.query('BEGIN');
  await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  try {
    return await work();
  } finally {
    await locker.query('ROLLBACK');
  }
}

describe('a table locked by another session', () => {
  it('answers the tables before it with hasMore before the timeout, and the next call carries on once the lock is gone', async () => {
    const secrets = sourceSecrets(db, {include_tables: 'accounts,orders'});
    const {value: first, ms} = await timed(whileLocked('orders', () => callConnector(connector, {state: {}, secrets}, {limits})));
    expect(ms).toBeLessThan(limits.timeoutSeconds * 1000);
    expect(first.status).toBe(200);
    expect(first.body.hasMore).toBe(true);
    expect(first.body.insert.public_accounts).toHaveLength(50);
    expect(first.body.insert.public_orders).toBeUndefined();
    expect(first.body.state).toMatchObject({table: 'public_orders'});
    // the lock is released: a sync from that state finishes the table
    const rest = await syncAll(connector, secrets, {state: first.body.state, callOptions: {limits}});
    expect(await rest.rows('public_orders')).toHaveLength(50);
    expect(rest.calls.every((call) => call.status === 200)).toBe(true);
  });

  it('answers a one-line error naming the lock when nothing could be committed before the deadline', async () => {
    const secrets = sourceSecrets(db, {include_tables: 'orders'});
    // past the pass's start (the metadata is committed), so the call's only work is the locked table
    const state = {version: 1, pass: 1, table: 'public_orders', tables: {}};
    const {value: call, ms} = await timed(whileLocked('orders', () => callConnector(connector, {state, secrets}, {limits})));
    expect(ms).toBeLessThan(limits.timeoutSeconds * 1000);
    expect(call.status).toBe(500);
    expect(call.body.errorType).toBe('DeadlineExceeded');
    expect(call.body.errorMessage).toMatch(
      /^replication reached the call's deadline \(6 s function timeout\) during its sync: waiting for a lock on "public"\."orders" \(held by PostgreSQL process \d+\) while (loading|sizing|reading|measuring) /,
    );
    // nothing of the call outlives it: its backend is not left waiting on the lock
    const {rows} = await db.query<{n: number}>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'fivetran-replication' AND datname = current_database() AND wait_event_type = 'Lock'`);
    expect(rows[0]!.n).toBe(0);
    const after = await callConnector(connector, {state, secrets}, {limits});
    expect(after.status).toBe(200);
    expect(after.body.insert.public_orders).toHaveLength(50);
  });
});
