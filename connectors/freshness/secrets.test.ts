// The freshness connector's secrets: defaults, validation messages, the setup test, and the proof that no
// secret value reaches a log line or a response, on success and on every failure path.
import {randomBytes} from 'node:crypto';
import nock from 'nock';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {freePort} from '../../emulator/embedded-postgres.js';
import {Logger, parseSecrets} from '../../sdk/index.js';
import {adminUrl, createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {createFreshnessConnector} from './index.js';
import {FreshnessSecrets} from './secrets.js';
import {callConnector} from '../../sdk/testing.js';
import {API_URL, CONNECTION_ID, connectionIs, freshnessSecrets, SETUP_SQL, syncAccepted, unpauseAccepted} from './test-support.js';

const connector = createFreshnessConnector({api: {baseDelayMs: 1, retries: 2}});
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('freshness_secrets');
  await db.query(SETUP_SQL);
});
afterAll(async () => {
  await db?.drop();
});

describe('freshness secrets', () => {
  it('fills the documented defaults', () => {
    const {secrets} = parseSecrets(FreshnessSecrets, {
      postgres_host: 'db', postgres_database: 'app', postgres_user: 'reader', postgres_password: 'pw',
      fivetran_api_key: 'k', fivetran_api_secret: 's', fivetran_connector_id: 'c', freshness_query: 'SELECT 1',
    });
    expect(secrets).toMatchObject({
      postgres_port: 5432, postgres_sslmode: 'prefer', id_column: 'company_id', stale_threshold_percent: 10, cooldown_minutes: 60,
      force_sync: false, dry_run: false, fivetran_api_url: 'https://api.fivetran.com',
    });
  });

  it('lists data_freshness_monitor keyed by the configured id column before any sync', async () => {
    const {secrets} = parseSecrets(FreshnessSecrets, freshnessSecrets(db, {id_column: 'account_key'}));
    const tables = await connector.discover!({secrets, log: new Logger({connector: 'freshness', sink: () => undefined}), signal: new AbortController().signal});
    expect(tables.data_freshness_monitor?.primaryKey).toEqual(['check_timestamp', 'account_key']);
  });

  it('answers 400 naming every missing or bad key', async () => {
    const {status, body} = await callConnector(connector, {secrets: {postgres_host: 'db', stale_threshold_percent: 'ten', dry_run: 'maybe'}});
    expect(status).toBe(400);
    expect(body.errorType).toBe('InvalidSecrets');
    for (const key of ['postgres_database is required', 'postgres_password is required', 'fivetran_api_secret is required', 'freshness_query is required', 'stale_threshold_percent must be a number', 'dry_run must be true or false']) {
      expect(body.errorMessage).toContain(key);
    }
  });
});

describe('freshness setup test', () => {
  it('passes when PostgreSQL, the query and the connection check out', async () => {
    const found = connectionIs();
    const {status, body} = await callConnector(connector, {setup_test: true, secrets: freshnessSecrets(db)});
    expect(status).toBe(200);
    expect(body).toEqual({state: {}, insert: {}, delete: {}, schema: {}, hasMore: false});
    expect(found.isDone()).toBe(true);
  });

  it('fails on a query that does not parse before asking the API', async () => {
    const {status, body} = await callConnector(connector, {setup_test: true, secrets: freshnessSecrets(db, {freshness_query: 'SELECT company_id freshness_status FROM'})});
    expect(status).toBe(400);
    expect(body.errorMessage).toMatch(/^freshness_query failed: syntax error/);
  });

  it('fails on a connection id the API does not know', async () => {
    nock(API_URL).get('/v1/connections/nope').reply(404, {code: 'NotFound_Connection', message: 'not found'});
    const {status, body} = await callConnector(connector, {setup_test: true, secrets: freshnessSecrets(db, {fivetran_connector_id: 'nope'})});
    expect(status).toBe(400);
    expect(body.errorMessage).toBe('Fivetran has no connection "nope" that this API key can see (404); check fivetran_connector_id');
  });
});

describe('secret values', () => {
  const suffix = randomBytes(6).toString('hex');
  const role = `freshness_reader_${suffix}`;
  const password = `pg-Pass-${suffix}`;
  const apiKey = `api-Key-${suffix}`;
  const apiSecret = `api-Secret-${suffix}`;
  const urlPassword = `url-Pw-${suffix}`;
  const forbidden = [password, apiKey, apiSecret, urlPassword, Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')];

  beforeAll(async () => {
    await db.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await db.query(`GRANT SELECT ON customer_data_freshness TO ${role}`);
  });
  afterAll(async () => {
    await db.query(`REVOKE ALL ON customer_data_freshness FROM ${role}`);
    const admin = new pg.Client({connectionString: adminUrl()});
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
  });

  it('never appear in logs or responses, on success or on any failure', async () => {
    const lines: string[] = [];
    const sink = (line: string) => lines.push(line);
    const secrets = (overrides: Record<string, unknown> = {}) =>
      freshnessSecrets(db, {postgres_user: role, postgres_password: password, fivetran_api_key: apiKey, fivetran_api_secret: apiSecret, ...overrides});
    const bodies: string[] = [];
    const call = async (body: Record<string, unknown>) => bodies.push(JSON.stringify((await callConnector(connector, body, {sink})).body));

    connectionIs({paused: true});
    unpauseAccepted();
    nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`).reply(429, {code: 'TooManyRequests'}, {'Retry-After': '0'});
    syncAccepted();
    await call({state: {}, secrets: secrets()});
    connectionIs();
    await call({setup_test: true, secrets: secrets()});

    nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).reply(401, {code: 'Unauthorized', message: `bad key ${apiKey}`});
    await call({state: {}, secrets: secrets()});
    nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).times(3).reply(503, {code: 'Unavailable', message: 'down'});
    await call({state: {}, secrets: secrets()});
    // a closed local port: a real connection error, retried then reported
    const closedPort = await freePort();
    await call({state: {}, secrets: secrets({fivetran_api_url: `http://127.0.0.1:${closedPort}`})});
    // credentials written inside the API URL are no secret field, yet must not show either
    await call({state: {}, secrets: secrets({fivetran_api_url: `http://apiuser:${urlPassword}@127.0.0.1:${closedPort}`})});
    await call({setup_test: true, secrets: secrets({fivetran_api_url: `http://apiuser:${urlPassword}@127.0.0.1:${closedPort}`})});

    await call({state: {}, secrets: secrets({postgres_password: `${password}-wrong`})});
    await call({state: {}, secrets: secrets({freshness_query: `SELECT '${password}' AS company_id, 'Stale' AS freshness_status`})});
    await call({state: {}, secrets: secrets({stale_threshold_percent: password})});

    const output = [...lines, ...bodies].join('\n');
    // the paths above did run: a trigger, a rejected key, exhausted retries, a refused connection, a bad password, a bad query
    for (const expected of ['trigger_sync', 'check fivetran_api_key and fivetran_api_secret', 'after 3 attempts', 'cannot reach the Fivetran API', 'PostgreSQL rejected user', 'unexpected values', 'holds credentials']) {
      expect(output).toContain(expected);
    }
    // only secret values are redacted: hosts, ports, ids and names stay readable in the error messages
    const errors = bodies.map((body) => (JSON.parse(body) as {errorMessage?: string}).errorMessage ?? '').join('\n');
    for (const readable of [`127.0.0.1:${closedPort}`, `${db.host}:${db.port}/${db.database}`, `connection "${CONNECTION_ID}"`, `user "${role}"`]) {
      expect(errors).toContain(readable);
    }
    for (const value of forbidden) expect(output).not.toContain(value);
  });
});
