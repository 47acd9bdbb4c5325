// update_method cdc against a real PostgreSQL, through the harness: the slot is created before the full load,
// writes made during the load are replayed after it, inserts, updates, deletes and key changes (of keyed and
// of keyless REPLICA IDENTITY FULL tables) land as the keyset path would land the source, a call whose
// response is lost and a sync killed at every checkpoint resume to the same warehouse, and the setup test
// names the missing server setting.
import {mkdtempSync, rmSync, chmodSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {randomBytes} from 'node:crypto';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startEmbeddedPostgres} from '../../emulator/embedded-postgres.js';
import type {Row, State} from '../../sdk/index.js';
import {callConnector, syncAll, TestWarehouse, type SyncResult} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {sourceSecrets} from './source-secrets.js';

let db: TestDatabase;
let logical = false;
const slot = `cdc_test_${randomBytes(3).toString('hex')}`;
/** small responses: the load and the stream each take several calls */
const limits = {responseCapBytes: 48 * 1024};
const cdcSecrets = () => sourceSecrets(db, {update_method: 'cdc', cdc_slot: slot});

beforeAll(async () => {
  db = await createTestDatabase('replication_cdc');
  logical = (await db.query(`SELECT current_setting('wal_level') AS level`)).rows[0].level === 'logical';
  // logical decoding reads only WAL that is flushed: commit synchronously, as production servers do
  await db.query('SET synchronous_commit = on');
  await db.query(`CREATE TABLE "Customers" (id int4 PRIMARY KEY, "Full Name" text, balance numeric(10,2), joined timestamptz, note text, active boolean)`);
  await db.query(
    `INSERT INTO "Customers" SELECT g, 'Customer ' || g, g * 1.25, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour', repeat('n', 80) || g, g % 2 = 0 FROM generate_series(1, 1500) g`,
  );
  await db.query('CREATE TABLE tags (label text, weight int4, meta jsonb)');
  await db.query('ALTER TABLE tags REPLICA IDENTITY FULL');
  await db.query(`INSERT INTO tags VALUES ('plain', 1, '{"a": 1}'), ('with space', 2, NULL), ('comma, "quote" \\ back', 3, '[1, 2]'), ('', 4, '{}'), (NULL, 5, NULL), ('(paren)', 6, '"s"')`);
  await db.query('ANALYZE');
});

afterAll(async () => {
  if (logical) await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()').catch(() => undefined);
  await db?.drop();
});

/** The replicated tables of a warehouse as canonical text (not the metadata tables), without _fivetran_synced. */
async function snapshot(warehouse: TestWarehouse): Promise<string> {
  const out: Record<string, Row[]> = {};
  for (const {table} of await warehouse.tables('replication')) {
    if (!['replication_runs', 'postgres_tables', 'postgres_columns'].includes(table)) out[table] = await warehouse.rows('replication', table);
  }
  return JSON.stringify(out, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/** The source as the keyset path lands it: a full load into a fresh warehouse. */
async function expected(): Promise<string> {
  const fresh = await syncAll(connector, sourceSecrets(db));
  try {
    return await snapshot(fresh.warehouse);
  } finally {
    await fresh.warehouse.close();
  }
}

describe('update_method cdc', () => {
  let warehouse: TestWarehouse;
  let loaded: SyncResult;

  /**
   * Syncs from `state` to the end, each call the last of its sync (killed at every checkpoint), and each
   * call's response first lost once (the function answered; Fivetran never committed it).
   */
  async function oneCallAtATime(start: State): Promise<{state: State; states: State[]}> {
    let state = start;
    const states: State[] = [];
    for (let done = false; !done; ) {
      expect(states.length).toBeLessThan(200);
      const lost = await callConnector(connector, {state, secrets: cdcSecrets()}, {limits});
      expect(lost.status).toBe(200);
      const one = await syncAll(connector, cdcSecrets(), {state, warehouse, maxCalls: 1, callOptions: {limits}});
      expect(one.calls[0]!.status).toBe(200);
      state = one.state;
      states.push(state);
      done = one.calls[0]!.body!.hasMore === false;
    }
    return {state, states};
  }

  afterAll(async () => warehouse?.close());

  it('creates the slot before the full load and replays the writes made during the load after it', async (context) => {
    if (!logical) context.skip();
    warehouse = await TestWarehouse.open();
    loaded = await syncAll(connector, cdcSecrets(), {
      warehouse,
      callOptions: {limits},
      beforeCall: async (call) => {
        if (call === 1) {
          await db.query(`INSERT INTO "Customers" VALUES (5001, 'Late', 1.5, now(), 'written during the load', true)`);
          await db.query(`UPDATE "Customers" SET "Full Name" = 'Renamed', balance = 99.99 WHERE id = 5`);
          await db.query(`DELETE FROM "Customers" WHERE id = 7`);
          await db.query(`UPDATE "Customers" SET id = 5009 WHERE id = 9`);
          await db.query(`INSERT INTO tags VALUES ('during', 7, NULL)`);
          await db.query(`UPDATE tags SET weight = 20 WHERE label = 'plain'`);
          await db.query(`DELETE FROM tags WHERE label IS NULL`);
        }
        if (call === 2) {
          // the last table is read after these: the replay must not undo what the load already has
          await db.query(`UPDATE "Customers" SET note = 'second write' WHERE id IN (5001, 1490)`);
          await db.query(`DELETE FROM "Customers" WHERE id = 1495`);
        }
      },
    });
    expect(loaded.calls.length).toBeGreaterThan(3);
    expect(loaded.calls.every((c) => c.status === 200)).toBe(true);
    // the first committed state already has the slot's starting position
    expect((loaded.committedStates[0] as {cdc?: {lsn: string; streaming: boolean}}).cdc).toMatchObject({streaming: false});
    expect((loaded.state as {cdc?: {streaming: boolean}}).cdc?.streaming).toBe(true);
    expect(await snapshot(warehouse)).toBe(await expected());
    expect(await loaded.rows('public_customers', {orderBy: ['id']})).not.toContainEqual(expect.objectContaining({id: 7}));
  });

  it('delivers inserts, updates, deletes and key changes of the next sync; deleted rows are gone', async (context) => {
    if (!logical || !loaded) context.skip();
    await db.query(`INSERT INTO "Customers" VALUES (6000, 'New', 10, '2024-06-01 12:00+00', NULL, NULL)`);
    await db.query(`UPDATE "Customers" SET balance = balance + 1, active = NOT active WHERE id BETWEEN 20 AND 40`);
    await db.query(`DELETE FROM "Customers" WHERE id IN (50, 51, 52)`);
    await db.query(`UPDATE "Customers" SET id = 6060 WHERE id = 60`);
    await db.query(`BEGIN; UPDATE "Customers" SET id = 6061 WHERE id = 61; UPDATE "Customers" SET note = 'same transaction' WHERE id = 6061; COMMIT`);
    await db.query(`INSERT INTO tags VALUES ('after', 8, '{"b": [true]}')`);
    await db.query(`UPDATE tags SET label = 'was space' WHERE label = 'with space'`);
    await db.query(`DELETE FROM tags WHERE label = ''`);
    const next = await syncAll(connector, cdcSecrets(), {state: loaded.state, warehouse, callOptions: {limits}});
    expect(next.calls.every((c) => c.status === 200)).toBe(true);
    // streaming: no full load again (only the changed rows travel)
    expect(next.inserted('public_customers').length).toBeLessThan(40);
    const rows = await next.rows('public_customers', {orderBy: ['id']});
    expect(rows.map((r) => r.id)).not.toEqual(expect.arrayContaining([50, 51, 52, 60, 61]));
    expect(rows.find((r) => r.id === 6061)).toMatchObject({full_name: 'Customer 61', note: 'same transaction'});
    expect(await snapshot(warehouse)).toBe(await expected());
    // the slot's lag, after each call advanced it, is in replication_runs
    const lags = next.inserted('replication_runs').map((r) => r.slot_lag_bytes);
    expect(lags.length).toBeGreaterThan(0);
    for (const lag of lags) expect(lag).toBeGreaterThanOrEqual(0);
    loaded = next;
  });

  it('resumes to the same warehouse when every call is the last of its sync and every response is first lost once', async (context) => {
    if (!logical || !loaded) context.skip();
    for (let batch = 0; batch < 30; batch++) {
      await db.query(`UPDATE "Customers" SET note = repeat('u', 150) || $1::text WHERE id % 30 = $1`, [batch]);
    }
    await db.query(`DELETE FROM "Customers" WHERE id BETWEEN 100 AND 110`);
    await db.query(`UPDATE tags SET weight = weight * 10`);
    const {state, states} = await oneCallAtATime(loaded.state);
    expect(states.length).toBeGreaterThan(2);
    expect(await snapshot(warehouse)).toBe(await expected());
    loaded = {...loaded, state};
  });

  it('delivers a transaction larger than a response over several calls, resuming inside it', async (context) => {
    if (!logical || !loaded) context.skip();
    await db.query(`BEGIN; UPDATE "Customers" SET note = repeat('t', 200) || id, balance = balance + 0.01; DELETE FROM "Customers" WHERE id BETWEEN 200 AND 205; UPDATE tags SET weight = weight + 1; COMMIT`);
    const {state, states} = await oneCallAtATime(loaded.state);
    // positions inside the transaction: its end LSN is not yet reached, `skip` changes of it are delivered
    expect(states.filter((s) => ((s as {cdc: {skip: number}}).cdc.skip > 0)).length).toBeGreaterThan(3);
    expect((state as {cdc: {skip: number}}).cdc.skip).toBe(0);
    expect(await snapshot(warehouse)).toBe(await expected());
    loaded = {...loaded, state};
  });

  it('delivers a row deleted and inserted again, or a key moved and its old key reused, within the same sync', async (context) => {
    if (!logical || !loaded) context.skip();
    await db.query(`DELETE FROM "Customers" WHERE id = 300`);
    await db.query(`INSERT INTO "Customers" VALUES (300, 'Back again', 3, NULL, NULL, true)`);
    await db.query(`UPDATE "Customers" SET id = 6310 WHERE id = 310`);
    await db.query(`INSERT INTO "Customers" VALUES (310, 'Old key reused', 4, NULL, NULL, false)`);
    // in one response the delete would win over the insert (Fivetran applies upserts, then deletes): the call
    // ends before the insert's transaction with hasMore true, and the next call of the same sync delivers it
    const sync = await syncAll(connector, cdcSecrets(), {state: loaded.state, warehouse, callOptions: {limits}});
    const rows = await sync.rows('public_customers');
    expect(rows.find((r) => r.id === 300)).toMatchObject({full_name: 'Back again'});
    expect(rows.find((r) => r.id === 310)).toMatchObject({full_name: 'Old key reused'});
    expect(rows.find((r) => r.id === 6310)).toMatchObject({full_name: 'Customer 310'});
    expect(sync.calls.length).toBeGreaterThanOrEqual(3);
    expect(sync.inserted('replication_runs').map((r) => r.stop_reason)).toContain('key_reinserted');
    expect(await snapshot(warehouse)).toBe(await expected());
    loaded = sync;
  });

  it('resumes to the source when a call ended for a reinserted key is the last of its sync', async (context) => {
    if (!logical || !loaded) context.skip();
    await db.query(`DELETE FROM "Customers" WHERE id = 320`);
    await db.query(`INSERT INTO "Customers" VALUES (320, 'Again', 3, NULL, NULL, true)`);
    await db.query(`DELETE FROM "Customers" WHERE id = 320`);
    await db.query(`INSERT INTO "Customers" VALUES (320, 'And again', 3, NULL, NULL, true)`);
    const {state} = await oneCallAtATime(loaded.state);
    expect(await snapshot(warehouse)).toBe(await expected());
    loaded = {...loaded, state};
  });
});

describe('update_method cdc with filters', () => {
  it('applies table_filters to the rows it streams, as the keyset path does to the rows it reads', async (context) => {
    if (!logical) context.skip();
    await db.query(`CREATE TABLE payments (id int4 PRIMARY KEY, status text, amount int4)`);
    await db.query(`INSERT INTO payments SELECT g, CASE WHEN g % 2 = 0 THEN 'paid' ELSE 'open' END, g FROM generate_series(1, 20) g`);
    const filtered = {include_tables: 'payments', table_filters: '{"payments": {"status": "paid"}}'};
    const secrets = sourceSecrets(db, {...filtered, update_method: 'cdc', cdc_slot: `${slot}_f`, cdc_publication: 'cdc_filtered_pub', max_slot_lag_mb: '0'});
    const target = await TestWarehouse.open();
    try {
      const first = await syncAll(connector, secrets, {warehouse: target});
      await db.query(`INSERT INTO payments VALUES (100, 'paid', 1), (101, 'open', 2)`);
      await db.query(`UPDATE payments SET amount = amount * 10 WHERE id <= 6`);
      const lines: string[] = [];
      const next = await syncAll(connector, secrets, {state: first.state, warehouse: target, callOptions: {sink: (line) => lines.push(line)}});
      const keyset = await syncAll(connector, sourceSecrets(db, filtered));
      try {
        expect(await snapshot(target)).toBe(await snapshot(keyset.warehouse));
      } finally {
        await keyset.warehouse.close();
      }
      // max_slot_lag_mb 0: any WAL the slot still holds is worth a warning
      // (the first call advanced the slot to the previous sync's position, before the writes above)
      expect(next.inserted('replication_runs')[0]?.slot_lag_bytes).toBeGreaterThan(0);
      expect(lines.join('\n')).toMatch(/holds \d+\.\d MB of WAL \(max_slot_lag_mb 0\)/);
    } finally {
      await target.close();
    }
  });
});

describe('update_method cdc with soft_delete', () => {
  it('keeps a deleted row with _fivetran_deleted true, and clears it when the key comes back', async (context) => {
    if (!logical) context.skip();
    await db.query(`CREATE TABLE accounts (id int4 PRIMARY KEY, owner text)`);
    await db.query(`INSERT INTO accounts SELECT g, 'owner ' || g FROM generate_series(1, 5) g`);
    const secrets = sourceSecrets(db, {include_tables: 'accounts', update_method: 'cdc', cdc_slot: `${slot}_soft`, cdc_publication: 'cdc_soft_pub', soft_delete: 'true'});
    const target = await TestWarehouse.open();
    try {
      const first = await syncAll(connector, secrets, {warehouse: target});
      await db.query(`DELETE FROM accounts WHERE id IN (2, 4)`);
      await db.query(`UPDATE accounts SET id = 50 WHERE id = 5`);
      const next = await syncAll(connector, secrets, {state: first.state, warehouse: target});
      // the response names the table in softDelete, as Fivetran's protocol has it
      expect(next.calls.some((c) => c.body?.softDelete?.includes('public_accounts'))).toBe(true);
      const rows = await target.query('SELECT id, owner, _fivetran_deleted FROM replication.public_accounts ORDER BY id');
      expect(rows).toEqual([
        {id: 1, owner: 'owner 1', _fivetran_deleted: false},
        {id: 2, owner: 'owner 2', _fivetran_deleted: true},
        {id: 3, owner: 'owner 3', _fivetran_deleted: false},
        {id: 4, owner: 'owner 4', _fivetran_deleted: true},
        {id: 5, owner: 'owner 5', _fivetran_deleted: true},
        {id: 50, owner: 'owner 5', _fivetran_deleted: false},
      ]);
      await db.query(`INSERT INTO accounts VALUES (2, 'back')`);
      await syncAll(connector, secrets, {state: next.state, warehouse: target});
      expect(await target.query('SELECT id, owner, _fivetran_deleted FROM replication.public_accounts WHERE id = 2')).toEqual([{id: 2, owner: 'back', _fivetran_deleted: false}]);
    } finally {
      await target.close();
    }
  });
});

describe('update_method cdc and a column added in the source', () => {
  it('lands the new column with the changes written after it was added', async (context) => {
    if (!logical) context.skip();
    await db.query(`CREATE TABLE widgets (id int4 PRIMARY KEY, name text)`);
    await db.query(`INSERT INTO widgets SELECT g, 'w' || g FROM generate_series(1, 5) g`);
    const secrets = sourceSecrets(db, {include_tables: 'widgets', update_method: 'cdc', cdc_slot: `${slot}_widgets`, cdc_publication: 'cdc_widgets_pub'});
    const target = await TestWarehouse.open();
    try {
      const first = await syncAll(connector, secrets, {warehouse: target});
      await db.query(`UPDATE widgets SET name = 'before' WHERE id = 1`);
      await db.query(`ALTER TABLE widgets ADD COLUMN "Colour Code" text`);
      await db.query(`UPDATE widgets SET "Colour Code" = 'red' WHERE id = 2`);
      await db.query(`INSERT INTO widgets VALUES (6, 'new', 'blue')`);
      await syncAll(connector, secrets, {state: first.state, warehouse: target});
      expect(await target.query('SELECT id, name, colour_code FROM replication.public_widgets ORDER BY id')).toEqual([
        {id: 1, name: 'before', colour_code: null},
        {id: 2, name: 'w2', colour_code: 'red'},
        {id: 3, name: 'w3', colour_code: null},
        {id: 4, name: 'w4', colour_code: null},
        {id: 5, name: 'w5', colour_code: null},
        {id: 6, name: 'new', colour_code: 'blue'},
      ]);
    } finally {
      await target.close();
    }
  });
});

describe('update_method cdc and TRUNCATE', () => {
  const truncateSecrets = (name: string, truncate: string) =>
    sourceSecrets(db, {include_tables: name, update_method: 'cdc', cdc_slot: `${slot}_${name}`, cdc_publication: `cdc_${name}_pub`, truncate});

  it('reports a TRUNCATE (truncate: report, the default) in the log and in replication_runs, and leaves the rows', async (context) => {
    if (!logical) context.skip();
    await db.query(`CREATE TABLE ledger_report (id int4 PRIMARY KEY, amount int4)`);
    await db.query(`INSERT INTO ledger_report SELECT g, g FROM generate_series(1, 10) g`);
    const secrets = truncateSecrets('ledger_report', 'report');
    const target = await TestWarehouse.open();
    try {
      const first = await syncAll(connector, secrets, {warehouse: target});
      await db.query(`TRUNCATE ledger_report`);
      await db.query(`INSERT INTO ledger_report VALUES (100, 1)`);
      const lines: string[] = [];
      const next = await syncAll(connector, secrets, {state: first.state, warehouse: target, callOptions: {sink: (line) => lines.push(line)}});
      expect(lines.join('\n')).toMatch(/TRUNCATE of public\.ledger_report \(at [0-9A-F]+\/[0-9A-F]+\) is not applied: .*set truncate: resync/);
      expect(next.inserted('replication_runs').flatMap((r) => r.truncated_tables as string[])).toEqual(['public.ledger_report']);
      // Fivetran's Function protocol deletes by key only, and a TRUNCATE names no keys: the old rows stay
      expect((await next.rows('public_ledger_report', {orderBy: ['id']})).map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100]);
    } finally {
      await target.close();
    }
  });

  it('reloads a truncated table with truncate: resync, resuming the reload from every checkpoint, and replays later changes over it', async (context) => {
    if (!logical) context.skip();
    await db.query(`CREATE TABLE ledger_resync (id int4 PRIMARY KEY, amount int4, note text)`);
    await db.query(`INSERT INTO ledger_resync SELECT g, g, repeat('x', 60) FROM generate_series(1, 300) g`);
    const secrets = truncateSecrets('ledger_resync', 'resync');
    const target = await TestWarehouse.open();
    try {
      const first = await syncAll(connector, secrets, {warehouse: target});
      await db.query(`DELETE FROM ledger_resync WHERE id = 1`);
      await db.query(`TRUNCATE ledger_resync`);
      await db.query(`INSERT INTO ledger_resync SELECT g, g * 10, repeat('y', 60) FROM generate_series(250, 1200) g`);
      await db.query(`UPDATE ledger_resync SET amount = -1 WHERE id = 260`);
      await db.query(`DELETE FROM ledger_resync WHERE id = 270`);
      const truncatedAt = new Date();
      // every call the last of its sync: the reload resumes from each of its checkpoints
      let state = first.state;
      let calls = 0;
      const runs: Record<string, unknown>[] = [];
      for (let done = false; !done; calls++) {
        expect(calls).toBeLessThan(100);
        const one = await syncAll(connector, secrets, {state, warehouse: target, maxCalls: 1, callOptions: {limits: {responseCapBytes: 48 * 1024}}});
        runs.push(...one.inserted('replication_runs'));
        state = one.state;
        done = one.calls[0]!.body!.hasMore === false;
      }
      expect(calls).toBeGreaterThan(2);
      expect(runs.flatMap((r) => r.truncated_tables as string[])).toContain('public.ledger_resync');
      expect((state as {cdc: {reload?: string[]}}).cdc.reload).toBeUndefined();
      const source = (await db.query(`SELECT id, amount FROM ledger_resync ORDER BY id`)).rows;
      // every source row is in the destination as it is now, rewritten since the TRUNCATE
      const current = await target.query(`SELECT id, amount FROM replication.public_ledger_resync WHERE _fivetran_synced >= '${truncatedAt.toISOString()}'::timestamptz ORDER BY id`);
      expect(current).toEqual(source);
      // the rows the TRUNCATE removed cannot be deleted through the Function protocol (no keys): they are
      // exactly the rows synced before it
      const stale = await target.query(`SELECT id FROM replication.public_ledger_resync WHERE _fivetran_synced < '${truncatedAt.toISOString()}'::timestamptz ORDER BY id`);
      expect(stale.map((r) => r.id)).toEqual(Array.from({length: 248}, (_, i) => i + 2));
    } finally {
      await target.close();
    }
  });
});

describe('the cdc setup test', () => {
  it('creates the publication for the selected tables and the slot, named from the database by default', async (context) => {
    if (!logical) context.skip();
    const answer = await callConnector(connector, {setup_test: true, state: {}, secrets: sourceSecrets(db, {update_method: 'cdc', include_tables: 'Customers,tags'})});
    expect(answer.status).toBe(200);
    const tables = await db.query(`SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 2`, [`fivetran_${db.database}_pub`]);
    expect(tables.rows).toEqual([{schemaname: 'public', tablename: 'Customers'}, {schemaname: 'public', tablename: 'tags'}]);
    const slots = await db.query(`SELECT plugin FROM pg_replication_slots WHERE slot_name = $1`, [`fivetran_${db.database}_slot`]);
    expect(slots.rows).toEqual([{plugin: 'pgoutput'}]);
    // again: the same publication and slot, nothing new
    expect((await callConnector(connector, {setup_test: true, state: {}, secrets: sourceSecrets(db, {update_method: 'cdc', include_tables: 'Customers,tags'})})).status).toBe(200);
  });

  it('names the REPLICATION attribute a plain user lacks, in one line', async (context) => {
    if (!logical) context.skip();
    const user = `plain_${randomBytes(3).toString('hex')}`;
    await db.query(`CREATE ROLE ${user} LOGIN PASSWORD 'pw'`);
    await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${user}`);
    try {
      const answer = await callConnector(connector, {setup_test: true, state: {}, secrets: {...cdcSecrets(), username: user, password: 'pw'}});
      expect(answer.status).toBe(400);
      expect(answer.body.errorMessage).toMatch(new RegExp(`^update_method cdc cannot run: the user "${user}" may not read replication slots: ALTER ROLE \\.\\.\\. WITH REPLICATION`));
      expect(answer.body.errorMessage).not.toContain('\n');
    } finally {
      await db.query(`DROP OWNED BY ${user}`);
      await db.query(`DROP ROLE ${user}`);
    }
  });

  it('names wal_level on a server without logical decoding', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'replication-cdc-replica-'));
    chmodSync(dir, 0o755);
    const server = await startEmbeddedPostgres({dataDir: path.join(dir, 'data'), settings: {wal_level: 'replica'}});
    try {
      const url = new URL(server.url);
      const client = new pg.Client({connectionString: server.url});
      await client.connect();
      await client.query('CREATE TABLE items (id int4 PRIMARY KEY)').finally(() => client.end());
      const secrets = {
        host: url.hostname, port: String(server.port), database: url.pathname.slice(1) || 'postgres', username: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password), sslmode: 'disable', update_method: 'cdc',
      };
      const answer = await callConnector(connector, {setup_test: true, state: {}, secrets});
      expect(answer.status).toBe(400);
      expect(answer.body.errorMessage).toMatch(/^update_method cdc cannot run: wal_level is replica, and change data capture needs logical: set wal_level = logical/);
      expect(answer.body.errorMessage).not.toContain('\n');
    } finally {
      await server.stop();
      rmSync(dir, {recursive: true, force: true});
    }
  }, 60_000);
});
