// Test fixtures of the freshness connector: its secrets against a test database, status tables and the
// Fivetran API answers (nock). Calls and syncs go through sdk/testing.ts, the local Fivetran's strict checks.
import {readFileSync} from 'node:fs';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import nock from 'nock';
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

/** The connection's details as the API answers them (GET and PATCH /v1/connections/{id}). */
export function connectionDetails(details: {paused?: boolean; sync_state?: string} = {}): Record<string, unknown> {
  return {id: CONNECTION_ID, group_id: 'group_1', service: 'postgres', schema: 'pg', paused: details.paused ?? false, status: {sync_state: details.sync_state ?? 'scheduled'}};
}

export function connectionIs(details: {paused?: boolean; sync_state?: string} = {}): nock.Scope {
  return nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).reply(200, {code: 'Success', data: connectionDetails(details)});
}

export function unpauseAccepted(): nock.Scope {
  return nock(API_URL).patch(`/v1/connections/${CONNECTION_ID}`, {paused: false}).reply(200, {code: 'Success', data: connectionDetails({paused: false})});
}

export function syncAccepted(force = false): nock.Scope {
  return nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`, {force}).reply(200, {code: 'Success', message: 'Sync has been successfully triggered'});
}

export interface HangingApi {
  url: string;
  /** `METHOD path body` of every request received */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A Fivetran API on a loopback port that never answers: every request, or (with `answersReads`) every
 * request but GET /v1/connections/{id}, which it answers as connectionIs does.
 */
export async function hangingApi(options: {answersReads?: boolean} = {}): Promise<HangingApi> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url} ${body}`.trim());
      if (options.answersReads && req.method === 'GET' && req.url === `/v1/connections/${CONNECTION_ID}`) {
        res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({code: 'Success', data: connectionDetails()}));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
