// Test fixtures of the freshness connector: its secrets against a test database, status tables, the
// Fivetran API answers (nock), and a loop that makes a sync's calls as Fivetran does.
import {randomUUID} from 'node:crypto';
import {readFileSync} from 'node:fs';
import nock from 'nock';
import {handleFunctionCall, type CallOptions, type Connector, type Row} from '../../sdk/index.js';
import type {TestDatabase} from '../../test/support/postgres.js';

export const API_URL = 'https://api.fivetran.test';
export const CONNECTION_ID = 'conn_warehouse';

export const SETUP_SQL = readFileSync(new URL('../../sql/freshness/setup_postgres.sql', import.meta.url), 'utf8');
export const DEFAULT_QUERY = 'SELECT company_id, company_name, last_updated, hours_since_update, freshness_status FROM customer_data_freshness';

export function freshnessSecrets(db: TestDatabase, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    postgres_host: db.host,
    postgres_port: String(db.port),
    postgres_database: db.database,
    postgres_user: db.user,
    postgres_password: db.password,
    postgres_sslmode: 'disable',
    fivetran_api_key: 'test-api-key',
    fivetran_api_secret: 'test-api-secret',
    fivetran_connector_id: CONNECTION_ID,
    fivetran_api_url: API_URL,
    freshness_query: DEFAULT_QUERY,
    ...overrides,
  };
}

let tables = 0;

/** A table of `stale` 'Stale data' rows then `fresh` 'Fresh data' rows, ids 1..n; returns its freshness query. */
export async function statusTable(db: TestDatabase, stale: number, fresh: number): Promise<string> {
  const table = `statuses_${++tables}`;
  await db.query(`CREATE TABLE ${table} (company_id integer PRIMARY KEY, freshness_status text)`);
  await db.query(
    `INSERT INTO ${table} SELECT i, CASE WHEN i <= $1 THEN 'Stale data' ELSE 'Fresh data' END FROM generate_series(1, $2::int) AS i`,
    [stale, stale + fresh],
  );
  return `SELECT company_id, freshness_status FROM ${table}`;
}

export function connectionIs(details: {paused?: boolean; sync_state?: string} = {}): nock.Scope {
  return nock(API_URL)
    .get(`/v1/connections/${CONNECTION_ID}`)
    .reply(200, {
      code: 'Success',
      data: {id: CONNECTION_ID, group_id: 'group_1', service: 'postgres', schema: 'pg', paused: details.paused ?? false, status: {sync_state: details.sync_state ?? 'scheduled'}},
    });
}

export function syncAccepted(force = false): nock.Scope {
  return nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`, {force}).reply(200, {code: 'Success', message: 'Sync has been successfully triggered'});
}

export interface ResponseBody {
  state: Record<string, unknown>;
  insert: Record<string, Row[]>;
  schema: Record<string, {primary_key?: string[]}>;
  hasMore: boolean;
  errorMessage?: string;
  errorType?: string;
}

export async function callOnce(connector: Connector, body: unknown, options: CallOptions = {}): Promise<{status: number; body: ResponseBody}> {
  // logs go nowhere unless a test captures them
  const result = await handleFunctionCall(connector, body, {sink: () => undefined, ...options});
  return {status: result.status, body: JSON.parse(result.body) as ResponseBody};
}

export interface SyncRun {
  responses: ResponseBody[];
  state: Record<string, unknown>;
  rows(table: string): Row[];
}

/** Every call of one sync (one sync_id): Fivetran calls again with the new state while hasMore is true. */
export async function syncAll(connector: Connector, secrets: Record<string, unknown>, state: Record<string, unknown> = {}, options: CallOptions = {}): Promise<SyncRun> {
  const responses: ResponseBody[] = [];
  const syncId = randomUUID();
  for (let call = 0; call < 200; call++) {
    const {status, body} = await callOnce(connector, {state, secrets, sync_id: syncId}, options);
    if (status !== 200) throw new Error(`call ${call + 1} answered ${status}: ${body.errorMessage}`);
    responses.push(body);
    state = body.state;
    if (!body.hasMore) break;
  }
  return {responses, state, rows: (table) => responses.flatMap((response) => response.insert[table] ?? [])};
}
