// The freshness query against a real PostgreSQL: the demo source, the aggregate, the checks on what the query
// returns, and keyset pages.
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {ConfigError, SourceError} from '../../sdk/index.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {analyzeFreshness, asSubquery, checkFreshnessQuery, keysetPage, stalePercentage, type FreshnessQuery} from './analyze.js';
import {DEFAULT_QUERY, SETUP_SQL} from './test-support.js';

let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('freshness_analyze');
  client = new pg.Client({connectionString: db.url});
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await db?.drop();
});

const freshness = (sql: string, idColumn = 'company_id'): FreshnessQuery => ({
  client, sql, idColumn, timeoutMs: 10_000, source: {host: db.host, port: db.port, database: db.database, user: db.user},
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof Error)) throw new Error('expected a failure');
  return error;
}

describe('sql/freshness/setup_postgres.sql', () => {
  it('runs twice and leaves 10 companies aged 1 to 36 hours, 3 of them stale', async () => {
    await db.query(SETUP_SQL);
    await db.query(SETUP_SQL);
    const {rows} = await db.query<{company_id: number; hours_since_update: number; freshness_status: string}>(
      `${DEFAULT_QUERY} ORDER BY company_id`,
    );
    expect(rows).toHaveLength(10);
    expect(Math.round(rows[0]!.hours_since_update)).toBe(1);
    expect(Math.round(rows[9]!.hours_since_update)).toBe(36);
    expect(rows.filter((row) => row.freshness_status === 'Stale data').map((row) => row.company_id)).toEqual([8, 9, 10]);
    const {rows: indexes} = await db.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'customer_data' ORDER BY indexname`);
    expect(indexes.map((row) => row.indexname)).toEqual(['customer_data_last_updated_idx', 'customer_data_pkey', 'customer_data_plan_idx']);
  });
});

describe('analyzeFreshness', () => {
  beforeAll(async () => {
    await db.query(SETUP_SQL);
    await db.query(`CREATE TABLE odd (company_id integer, freshness_status text)`);
  });

  it('counts the demo source as 3 stale of 10', async () => {
    expect(await analyzeFreshness(freshness(DEFAULT_QUERY))).toEqual({totalRows: 10, staleRows: 3, stalePercentage: 30});
  });

  it('accepts a query ending with a comment or a semicolon', async () => {
    const sql = `SELECT company_id, freshness_status FROM customer_data_freshness WHERE company_id <= 9`;
    expect(await analyzeFreshness(freshness(`${sql} -- nine companies`))).toEqual({totalRows: 9, staleRows: 2, stalePercentage: 22.22});
    expect(await analyzeFreshness(freshness(`${sql};\n`))).toEqual({totalRows: 9, staleRows: 2, stalePercentage: 22.22});
  });

  it('names the missing columns and lists those the query returns', async () => {
    const error = await failure(analyzeFreshness(freshness('SELECT company_id AS id, last_updated FROM customer_data')));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      'freshness_query must return the columns company_id and freshness_status, but company_id and freshness_status are missing (it returns: id, last_updated); fix the query or set id_column',
    );
  });

  it('names a configured id column that the query lacks', async () => {
    const error = await failure(analyzeFreshness(freshness(DEFAULT_QUERY, 'account_id')));
    expect(error.message).toContain('but account_id is missing');
  });

  it('lists unexpected status values, NULL included', async () => {
    await db.query(`TRUNCATE odd`);
    await db.query(`INSERT INTO odd VALUES (1, 'Stale data'), (2, 'stale'), (3, NULL), (4, 'Fresh data'), (5, 'stale')`);
    const error = await failure(analyzeFreshness(freshness('SELECT * FROM odd')));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      `freshness_query returned 3 row(s) whose freshness_status is neither 'Stale data' nor 'Fresh data' (unexpected values: "stale", NULL); return exactly one of those two values`,
    );
  });

  it('rejects NULL and repeated ids, which paging and the primary key cannot carry', async () => {
    await db.query(`TRUNCATE odd`);
    await db.query(`INSERT INTO odd VALUES (1, 'Stale data'), (NULL, 'Fresh data')`);
    expect((await failure(analyzeFreshness(freshness('SELECT * FROM odd')))).message).toBe(
      'freshness_query returned 1 row(s) with a NULL company_id; every row needs an id (or set id_column)',
    );
    await db.query(`TRUNCATE odd`);
    await db.query(`INSERT INTO odd VALUES (1, 'Stale data'), (1, 'Fresh data'), (2, 'Fresh data')`);
    expect((await failure(analyzeFreshness(freshness('SELECT * FROM odd')))).message).toBe(
      'freshness_query returned 1 row(s) repeating a company_id value; return one row per company_id (it keys data_freshness_monitor)',
    );
  });

  it('runs the query read-only', async () => {
    await db.query('CREATE SEQUENCE checks_seq');
    const sql = `SELECT company_id, freshness_status FROM customer_data_freshness WHERE nextval('checks_seq') > 0`;
    const error = await failure(analyzeFreshness(freshness(sql)));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^freshness_query tried to write .*must only read$/);
  });

  it('stops the query at its statement timeout', async () => {
    const sql = `SELECT company_id, freshness_status FROM customer_data_freshness WHERE pg_sleep(0.2) IS NOT NULL`;
    const error = await failure(analyzeFreshness({...freshness(sql), timeoutMs: 100}));
    expect(error).toBeInstanceOf(SourceError);
    expect(error.message).toBe('freshness_query ran past its 0.1 s statement timeout; make it cheaper (an index on the timestamp it filters on usually helps)');
  });

  it('names the query when it refers to a table that does not exist', async () => {
    const error = await failure(analyzeFreshness(freshness('SELECT company_id, freshness_status FROM no_such_table')));
    expect(error.message).toBe('freshness_query failed: relation "no_such_table" does not exist; fix the query');
  });
});

describe('checkFreshnessQuery', () => {
  it('passes a query that plans and has the columns, without running it', async () => {
    // pg_sleep would take an hour if the query ran
    await expect(checkFreshnessQuery(freshness(`SELECT company_id, freshness_status FROM customer_data_freshness WHERE pg_sleep(3600) IS NOT NULL`))).resolves.toBeUndefined();
  });

  it('fails on a query that does not parse', async () => {
    const error = await failure(checkFreshnessQuery(freshness('SELECT company_id freshness_status FROM')));
    expect(error.message).toBe('freshness_query failed: syntax error at or near ")"; fix the query (it runs as a subquery, so it must be a single SELECT)');
  });
});

describe('keysetPage', () => {
  it('resumes after the last text id in collation order', async () => {
    await db.query(`CREATE TABLE named (name text PRIMARY KEY, freshness_status text)`);
    await db.query(`INSERT INTO named VALUES ('b', 'Fresh data'), ('a', 'Stale data'), ('d', 'Fresh data'), ('c', 'Fresh data')`);
    const query = freshness('SELECT * FROM named', 'name');
    expect((await keysetPage(query, null, 2)).map((row) => row.name)).toEqual(['a', 'b']);
    expect((await keysetPage(query, 'b', 2)).map((row) => row.name)).toEqual(['c', 'd']);
    expect(await keysetPage(query, 'd', 2)).toEqual([]);
  });

  it('resumes after a bigint id sent back as the string pg returned', async () => {
    await db.query(`CREATE TABLE big (id bigint PRIMARY KEY, freshness_status text)`);
    await db.query(`INSERT INTO big VALUES (9007199254740993, 'Fresh data'), (9007199254740995, 'Stale data'), (10, 'Fresh data')`);
    const query = freshness('SELECT * FROM big', 'id');
    const [first] = await keysetPage(query, null, 1);
    expect(first!.id).toBe('10');
    expect((await keysetPage(query, '9007199254740993', 10)).map((row) => row.id)).toEqual(['9007199254740995']);
  });

  it('quotes the id column', async () => {
    await db.query(`CREATE TABLE quoted ("Company Id" integer, freshness_status text)`);
    await db.query(`INSERT INTO quoted VALUES (2, 'Fresh data'), (1, 'Stale data')`);
    const query = freshness('SELECT * FROM quoted', 'Company Id');
    expect(await analyzeFreshness(query)).toEqual({totalRows: 2, staleRows: 1, stalePercentage: 50});
    expect((await keysetPage(query, 1, 10)).map((row) => row['Company Id'])).toEqual([2]);
  });
});

describe('helpers', () => {
  it('wraps the query so a trailing comment cannot swallow the closing parenthesis', () => {
    expect(asSubquery('SELECT 1 -- note;\n ;  ')).toBe('(\nSELECT 1 -- note\n) AS q');
  });

  it('rounds the stale share to 2 decimals and gives 0 for no rows', () => {
    expect(stalePercentage(1, 3)).toBe(33.33);
    expect(stalePercentage(2, 3)).toBe(66.67);
    expect(stalePercentage(0, 0)).toBe(0);
  });
});
