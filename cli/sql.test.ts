// The monitoring views: rendered for each dialect, created for real on PostgreSQL and DuckDB over fixture
// tables shaped like the Platform Connector's, and checked row by row; BigQuery and Snowflake output is
// compared with the reviewed files in sql/monitoring/expected/.
import {mkdtempSync, readFileSync, readdirSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {Warehouse} from '../emulator/warehouse.js';
import {createTestDatabase, type TestDatabase} from '../test/support/postgres.js';
import {renderSql, renderViews, stringLiteral, type Dialect} from './sql.js';

const root = path.resolve(import.meta.dirname, '..');
const fixture = readFileSync(path.join(root, 'sql/monitoring/fixtures/platform_connector.sql'), 'utf8');
const TENANT_PATTERN = '^(t_[a-z0-9]+)_';
const VIEWS = [
  'connection_status', 'daily_events', 'error_reporting', 'connection_issues', 'sync_performance', 'monthly_active_rows', 'schema_changes', 'tenant_connections',
  'audit_table', 'audit_user_activity', 'usage_mar_destination_history', 'connection_daily_events', 'connector_status', 'daily_api_calls', 'connector_issues',
];

type Query = (sql: string) => Promise<Record<string, unknown>[]>;

/** Statements of a script (the fixture has no semicolons inside literals). */
const statements = (sql: string) => sql.split(/;\s*\n/).map((s) => s.replace(/^(\s*--.*\n)+/g, '').trim()).filter(Boolean);

/** The same checks on both engines. */
function viewChecks(engine: string, query: () => Query): void {
  describe(`monitoring views on ${engine}`, () => {
    it('derives each connection health by the dbt package rules', async () => {
      const rows = await query()(`select connection_id, connection_health, number_errors_since_last_completed_sync as errors, number_warnings_since_last_completed_sync as warnings,
        number_of_schema_changes_last_month as changes from fivetran_monitoring.connection_status order by connection_id`);
      expect(rows).toEqual([
        {connection_id: 'c_broken', connection_health: 'broken', errors: 0, warnings: 0, changes: 0},
        {connection_id: 'c_gone', connection_health: 'deleted', errors: 0, warnings: 0, changes: 0},
        {connection_id: 'c_initial', connection_health: 'initial sync in progress', errors: 0, warnings: 0, changes: 0},
        {connection_id: 'c_never', connection_health: 'broken', errors: 2, warnings: 0, changes: 0},
        {connection_id: 'c_new', connection_health: 'incomplete', errors: 0, warnings: 0, changes: 0},
        {connection_id: 'c_ok', connection_health: 'connected', errors: 0, warnings: 0, changes: 1},
        {connection_id: 'c_paused', connection_health: 'paused', errors: 0, warnings: 0, changes: 0},
        {connection_id: 'c_priority', connection_health: 'priority first sync', errors: 0, warnings: 1, changes: 0},
        {connection_id: 'c_warned', connection_health: 'connected', errors: 0, warnings: 1, changes: 0},
      ]);
      const [ok] = await query()(`select last_sync_started_at, last_sync_completed_at, last_successful_sync_completed_at, last_error_at from fivetran_monitoring.connection_status where connection_id = 'c_broken'`);
      expect(ok).toEqual({
        last_sync_started_at: '2026-01-06T09:00:00.000Z', last_sync_completed_at: '2026-01-06T09:05:00.000Z',
        last_successful_sync_completed_at: '2026-01-05T09:10:00.000Z', last_error_at: '2026-01-06T09:05:00.000Z',
      });
    });

    it('counts API calls, modified rows and schema changes per connection and day', async () => {
      const rows = await query()(`select connection_id, date_day, count_api_calls, count_record_modifications, count_schema_changes
        from fivetran_monitoring.daily_events where connection_id = 'c_ok' and date_day < DATE '2026-02-01' order by date_day`);
      expect(rows).toEqual([
        {connection_id: 'c_ok', date_day: '2026-01-05T00:00:00.000Z', count_api_calls: 12, count_record_modifications: 120, count_schema_changes: 1},
        {connection_id: 'c_ok', date_day: '2026-01-06T00:00:00.000Z', count_api_calls: 8, count_record_modifications: 30, count_schema_changes: 0},
      ]);
    });

    it('reports each distinct error and warning with its count', async () => {
      const rows = await query()(`select connection_id, severity, message, occurrences, first_seen_at, last_seen_at from fivetran_monitoring.error_reporting order by connection_id, message`);
      expect(rows).toEqual([
        {connection_id: 'c_broken', severity: 'SEVERE', message: 'Invalid credentials', occurrences: 1, first_seen_at: '2026-01-06T09:04:00.000Z', last_seen_at: '2026-01-06T09:04:00.000Z'},
        {connection_id: 'c_never', severity: 'SEVERE', message: 'Connection refused', occurrences: 2, first_seen_at: '2026-01-06T13:01:00.000Z', last_seen_at: '2026-01-06T13:02:00.000Z'},
        expect.objectContaining({connection_id: 'c_priority', severity: 'WARNING', occurrences: 1}),
        {connection_id: 'c_warned', severity: 'WARNING', message: 'Column type changed', occurrences: 1, first_seen_at: '2026-01-06T12:20:00.000Z', last_seen_at: '2026-01-06T12:20:00.000Z'},
        expect.objectContaining({connection_id: 'c_warned', severity: 'SEVERE', message: 'Timeout reading page 3, retrying'}),
      ]);
    });

    it('lists the connections that need a person, broken as critical', async () => {
      const rows = await query()(`select connection_id, connection_health, severity from fivetran_monitoring.connection_issues order by connection_id`);
      expect(rows).toEqual([
        {connection_id: 'c_broken', connection_health: 'broken', severity: 'critical'},
        {connection_id: 'c_never', connection_health: 'broken', severity: 'critical'},
        {connection_id: 'c_new', connection_health: 'incomplete', severity: 'warning'},
        {connection_id: 'c_paused', connection_health: 'paused', severity: 'warning'},
      ]);
    });

    it('measures each sync from sync_start to sync_end with its rows', async () => {
      const rows = await query()(`select sync_id, connection_id, sync_status, duration_seconds, rows_modified, tables_modified from fivetran_monitoring.sync_performance order by sync_id`);
      expect(rows).toEqual([
        {sync_id: 's1', connection_id: 'c_ok', sync_status: 'SUCCESSFUL', duration_seconds: 300, rows_modified: 120, tables_modified: 2},
        {sync_id: 's2', connection_id: 'c_ok', sync_status: 'SUCCESSFUL', duration_seconds: 120, rows_modified: 30, tables_modified: 1},
        {sync_id: 's3', connection_id: 'c_broken', sync_status: 'SUCCESSFUL', duration_seconds: 600, rows_modified: 0, tables_modified: 0},
        {sync_id: 's4', connection_id: 'c_broken', sync_status: 'FAILURE_WITH_TASK', duration_seconds: 300, rows_modified: 0, tables_modified: 0},
        {sync_id: 's5', connection_id: 'c_warned', sync_status: 'SUCCESSFUL', duration_seconds: 600, rows_modified: 3, tables_modified: 1},
        {sync_id: 's6', connection_id: 'c_paused', sync_status: 'SUCCESSFUL', duration_seconds: 1200, rows_modified: 0, tables_modified: 0},
        {sync_id: 's7', connection_id: 'c_initial', sync_status: 'RUNNING', duration_seconds: null, rows_modified: 0, tables_modified: 0},
        {sync_id: 's8', connection_id: 'c_priority', sync_status: 'RUNNING', duration_seconds: null, rows_modified: 0, tables_modified: 0},
        {sync_id: 's9', connection_id: 'c_never', sync_status: 'RUNNING', duration_seconds: null, rows_modified: 0, tables_modified: 0},
      ]);
    });

    it('sums monthly active rows per month and table, paid and free', async () => {
      const rows = await query()(`select measured_month, table_name, incremental_rows, paid_rows, free_rows from fivetran_monitoring.monthly_active_rows order by measured_month, table_name`);
      expect(rows).toEqual([
        {measured_month: '2026-01-01T00:00:00.000Z', table_name: 'campaigns', incremental_rows: 7, paid_rows: 7, free_rows: 0},
        {measured_month: '2026-01-01T00:00:00.000Z', table_name: 'customers', incremental_rows: 20, paid_rows: 0, free_rows: 20},
        {measured_month: '2026-01-01T00:00:00.000Z', table_name: 'orders', incremental_rows: 150, paid_rows: 150, free_rows: 0},
        {measured_month: '2026-02-01T00:00:00.000Z', table_name: 'orders', incremental_rows: 10, paid_rows: 10, free_rows: 0},
      ]);
    });

    it('lists schema changes with the table they touched', async () => {
      const rows = await query()(`select connection_id, change_type, schema_name, table_name from fivetran_monitoring.schema_changes order by changed_at`);
      expect(rows).toEqual([
        {connection_id: 'c_ok', change_type: 'create_table', schema_name: 't_acme_sales', table_name: 'orders'},
        {connection_id: null, change_type: 'create_schema', schema_name: 'fivetran_metadata', table_name: null},
        {connection_id: 'c_ok', change_type: 'alter_table', schema_name: 't_acme_sales', table_name: 'orders'},
      ]);
    });

    it('audits each sync and table: write times and rows by operation', async () => {
      const rows = await query()(`select connection_id, sync_id, schema_name, table_name, write_started_at, write_ended_at, rows_replaced_or_inserted, rows_updated, rows_deleted, sync_ended_at
        from fivetran_monitoring.audit_table where connection_id in ('c_ok', 'c_warned') order by sync_id, table_name`);
      expect(rows).toEqual([
        {connection_id: 'c_ok', sync_id: 's1', schema_name: 't_acme_sales', table_name: 'customers', write_started_at: null, write_ended_at: null, rows_replaced_or_inserted: 0, rows_updated: 20, rows_deleted: 0, sync_ended_at: '2026-01-05T10:05:00.000Z'},
        {connection_id: 'c_ok', sync_id: 's1', schema_name: 't_acme_sales', table_name: 'orders', write_started_at: '2026-01-05T10:03:30.000Z', write_ended_at: '2026-01-05T10:04:30.000Z', rows_replaced_or_inserted: 100, rows_updated: 0, rows_deleted: 0, sync_ended_at: '2026-01-05T10:05:00.000Z'},
        {connection_id: 'c_ok', sync_id: 's2', schema_name: 't_acme_sales', table_name: 'orders', write_started_at: null, write_ended_at: null, rows_replaced_or_inserted: 30, rows_updated: 0, rows_deleted: 0, sync_ended_at: '2026-01-06T10:02:00.000Z'},
        {connection_id: 'c_warned', sync_id: 's5', schema_name: 't_initech_erp', table_name: 'invoices', write_started_at: '2026-01-06T12:05:00.000Z', write_ended_at: '2026-01-06T12:07:00.000Z', rows_replaced_or_inserted: 0, rows_updated: 0, rows_deleted: 3, sync_ended_at: '2026-01-06T12:10:00.000Z'},
      ]);
    });

    it('lists what people did, with the user matched by email whatever its case', async () => {
      const rows = await query()(`select connection_id, activity, actor_email, user_id, given_name from fivetran_monitoring.audit_user_activity order by occurred_at`);
      expect(rows).toEqual([
        {connection_id: 'c_ok', activity: 'update_connection', actor_email: 'ada@example.test', user_id: 'u1', given_name: 'Ada'},
        {connection_id: 'c_paused', activity: 'pause_connection', actor_email: 'ops@example.test', user_id: null, given_name: null},
      ]);
    });

    it('sums monthly active rows per destination and month, with the destination name', async () => {
      const rows = await query()(`select measured_month, destination_id, destination_name, connections, total_rows, paid_rows, free_rows from fivetran_monitoring.usage_mar_destination_history order by measured_month, destination_id`);
      expect(rows).toEqual([
        {measured_month: '2026-01-01T00:00:00.000Z', destination_id: 'd1', destination_name: 'warehouse_prod', connections: 1, total_rows: 170, paid_rows: 150, free_rows: 20},
        {measured_month: '2026-01-01T00:00:00.000Z', destination_id: 'd2', destination_name: 'warehouse_eu', connections: 1, total_rows: 7, paid_rows: 7, free_rows: 0},
        {measured_month: '2026-02-01T00:00:00.000Z', destination_id: 'd1', destination_name: 'warehouse_prod', connections: 1, total_rows: 10, paid_rows: 10, free_rows: 0},
      ]);
    });

    it("answers the dbt package's and the toolkit's names with the same rows", async () => {
      const count = async (view: string) => Number((await query()(`select count(*) as n from fivetran_monitoring.${view}`))[0]!.n);
      expect(await count('connection_daily_events')).toBe(await count('daily_events'));
      expect(await count('connector_status')).toBe(await count('connection_status'));
      expect(await count('connector_issues')).toBe(await count('connection_issues'));
      const calls = await query()(`select date_day, count_api_calls from fivetran_monitoring.daily_api_calls where connection_id = 'c_ok' and date_day < DATE '2026-02-01' order by date_day`);
      expect(calls).toEqual([
        {date_day: '2026-01-05T00:00:00.000Z', count_api_calls: 12},
        {date_day: '2026-01-06T00:00:00.000Z', count_api_calls: 8},
      ]);
    });

    it('tags connections with their tenant from the connection name and names it from the tenants table', async () => {
      const rows = await query()(`select connection_id, tenant_id, tenant_name, connection_health from fivetran_monitoring.tenant_connections order by connection_id`);
      expect(rows.map((r) => [r.connection_id, r.tenant_id, r.tenant_name])).toEqual([
        ['c_broken', 't_acme', 'Acme Corp'], ['c_gone', 't_acme', 'Acme Corp'], ['c_initial', 't_initech', null], ['c_never', 't_initech', null],
        ['c_new', 't_globex', 'Globex'], ['c_ok', 't_acme', 'Acme Corp'], ['c_paused', 't_globex', 'Globex'], ['c_priority', null, null], ['c_warned', 't_initech', null],
      ]);
    });
  });
}

describe('rendering', () => {
  it('renders the views in creation order for every dialect', () => {
    for (const dialect of ['bigquery', 'snowflake', 'postgres', 'duckdb'] as Dialect[]) {
      expect(renderViews(root, {set: 'monitoring', dialect}).map((v) => v.view)).toEqual(VIEWS);
    }
  });

  it.each(['bigquery', 'snowflake'])('matches the reviewed %s files', (dialect) => {
    const dir = path.join(root, 'sql/monitoring/expected', dialect);
    const views = renderViews(root, {set: 'monitoring', dialect});
    expect(readdirSync(dir).sort()).toEqual(views.map((v) => v.file).sort());
    for (const view of views) expect(view.sql, `${dialect}/${view.file}`).toBe(readFileSync(path.join(dir, view.file), 'utf8'));
  });

  it('writes one file per view with --out and rejects unknown dialects and bad names', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'sql-render-'));
    const lines: string[] = [];
    await renderSql({set: 'monitoring', dialect: 'duckdb', out, cwd: root, write: (t) => lines.push(t)});
    expect(readdirSync(out).sort()).toEqual(VIEWS.map((v) => `${v}.sql`).sort());
    expect(lines.join('')).toMatch(new RegExp(`wrote ${VIEWS.length} views for duckdb`));
    expect(() => renderViews(root, {set: 'monitoring', dialect: 'oracle'})).toThrow(/unknown dialect "oracle"; use one of bigquery, snowflake, postgres, duckdb/);
    expect(() => renderViews(root, {set: 'monitoring', dialect: 'postgres', sourceSchema: 'x; drop table y'})).toThrow(/--source-schema/);
    expect(() => renderViews(root, {set: 'nothing', dialect: 'postgres'})).toThrow(/no SQL templates in sql\/nothing/);
  });

  it('quotes string literals for each dialect', () => {
    expect(stringLiteral('postgres', "^(a\\d)'")).toBe("'^(a\\d)'''");
    expect(stringLiteral('bigquery', "^(a\\d)'")).toBe("'^(a\\\\d)\\''");
    expect(stringLiteral('snowflake', "^(a\\d)'")).toBe("'^(a\\\\d)'''");
  });
});

let db: TestDatabase;
let client: pg.Client;
let duck: Warehouse;

const asNumber = (value: string) => Number(value);
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === 20 || oid === 1700) return asNumber;
    if (oid === 1082) return (value: string) => `${value}T00:00:00.000Z`;
    if (oid === 1184 || oid === 1114) {
      const parse = pg.types.getTypeParser(oid) as (value: string) => Date;
      return (value: string) => parse(value).toISOString();
    }
    return pg.types.getTypeParser(oid, format);
  },
};

beforeAll(async () => {
  db = await createTestDatabase('sql_views');
  client = new pg.Client({connectionString: db.url, types: types as pg.CustomTypesConfig});
  await client.connect();
  await client.query(`SET TIME ZONE 'UTC'`);
  await client.query(fixture);
  for (const view of renderViews(root, {set: 'monitoring', dialect: 'postgres', tenantPattern: TENANT_PATTERN})) await client.query(view.sql);

  duck = await Warehouse.open(':memory:');
  for (const statement of statements(fixture)) await duck.query(statement);
  for (const view of renderViews(root, {set: 'monitoring', dialect: 'duckdb', tenantPattern: TENANT_PATTERN})) await duck.query(view.sql);
});

afterAll(async () => {
  await client?.end();
  await duck?.close();
  await db?.drop();
});

viewChecks('PostgreSQL', () => async (sql) => (await client.query(sql)).rows);
viewChecks('DuckDB', () => async (sql) => (await duck.query(sql)).rows);
