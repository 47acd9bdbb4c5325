import {chmodSync, mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import nock from 'nock';
import pg from 'pg';
import {startEmbeddedPostgres} from '../../emulator/embedded-postgres.js';
import {handleFunctionCall} from '../../sdk/index.js';
import {createFreshnessConnector} from './index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'fresh-measure-')); chmodSync(dir, 0o755);
const server = await startEmbeddedPostgres({dataDir: path.join(dir, 'data')});
const url = new URL(server.url);
const client = new pg.Client({connectionString: server.url}); await client.connect();
const n = Number(process.argv[2] ?? 100000);
await client.query(`CREATE TABLE companies (company_id bigint PRIMARY KEY, name text, last_updated timestamptz)`);
await client.query(`INSERT INTO companies SELECT i, 'company ' || i, now() - (i % 48) * interval '1 hour' FROM generate_series(1, ${n}) i`);
await client.query('ANALYZE companies');
const connector = createFreshnessConnector();
const secrets = {postgres_host: url.hostname, postgres_port: url.port, postgres_database: 'postgres', postgres_user: 'postgres', postgres_password: 'postgres', postgres_sslmode: 'disable',
  fivetran_api_key: 'k', fivetran_api_secret: 's', fivetran_connector_id: 'c1', fivetran_api_url: 'https://api.fivetran.test',
  freshness_query: `SELECT company_id, name, last_updated, CASE WHEN last_updated < now() - interval '24 hours' THEN 'Stale data' ELSE 'Fresh data' END AS freshness_status FROM companies`};
nock('https://api.fivetran.test').get('/v1/connections/c1').reply(200, {data: {id: 'c1', paused: false, status: {sync_state: 'scheduled'}}});
nock('https://api.fivetran.test').post('/v1/connections/c1/sync').reply(200, {code: 'Success'});
let state = {}; let calls = 0; let bytes = 0; let maxRss = 0; const t = Date.now(); let firstCallMs = 0;
for (;;) {
  const c0 = Date.now();
  const r = await handleFunctionCall(connector, {state, secrets}, {sink: () => undefined});
  if (calls === 0) firstCallMs = Date.now() - c0;
  calls++; bytes += r.body.length; maxRss = Math.max(maxRss, process.memoryUsage.rss());
  if (r.status !== 200) { console.log(r.body); break; }
  const body = JSON.parse(r.body); state = body.state;
  if (!body.hasMore) break;
}
console.log(JSON.stringify({rows: n, calls, totalMs: Date.now() - t, firstCallMs, mb: +(bytes / 1048576).toFixed(1), maxRssMb: Math.round(maxRss / 1048576), analysis: (state as {last_analysis: unknown}).last_analysis}));
await client.end(); await server.stop(); rmSync(dir, {recursive: true, force: true});
