// A large catalog: the metadata tables (postgres_tables, postgres_columns) are split across checkpoints and
// calls like any rows, so a catalog larger than one response still syncs.
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {syncAll} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {sourceSecrets} from './source-secrets.js';

const TABLES = 400;
const COLUMNS = 81;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replication_catalog');
  const columns = Array.from({length: COLUMNS - 1}, (_, i) => `measurement_column_number_${i + 1} numeric(12,2)`).join(', ');
  await db.query(`DO $$ BEGIN FOR i IN 1..${TABLES} LOOP EXECUTE format('CREATE TABLE wide_%s (id int PRIMARY KEY, ${columns})', i); END LOOP; END $$`);
  await db.query(`INSERT INTO wide_1 (id) VALUES (1), (2)`);
});
afterAll(async () => db?.drop());

describe(`a catalog of ${TABLES} tables of ${COLUMNS} columns`, () => {
  it('syncs at the default 8 MiB response cap, its metadata over several calls', {timeout: 120_000}, async () => {
    const result = await syncAll(connector, sourceSecrets(db));
    expect(result.calls.length).toBeGreaterThan(1);
    expect(result.calls.every((call) => call.status === 200)).toBe(true);
    const [tables] = await result.warehouse.query(`SELECT count(*)::int AS n FROM replication.postgres_tables`);
    const [columns] = await result.warehouse.query(`SELECT count(*)::int AS n, count(DISTINCT table_name)::int AS t FROM replication.postgres_columns`);
    expect(tables).toEqual({n: TABLES});
    expect(columns).toEqual({n: TABLES * COLUMNS, t: TABLES});
    expect(await result.rows('public_wide_1')).toHaveLength(2);
    // a second sync describes the catalog again, replacing the rows
    const second = await syncAll(connector, sourceSecrets(db), {state: result.state, warehouse: result.warehouse});
    expect(second.calls.every((call) => call.status === 200)).toBe(true);
    const [again] = await result.warehouse.query(`SELECT count(*)::int AS n FROM replication.postgres_columns`);
    expect(again).toEqual({n: TABLES * COLUMNS});
  });
});
