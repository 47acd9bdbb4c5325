// The freshness demo script against the pieces `./fivetran demo` uses: a real PostgreSQL, the Fivetran API
// simulator, the sync runner (calls through the Function adapter) and a DuckDB warehouse.
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import type {DemoContext} from '../../emulator/demo-context.js';
import {generateFleet} from '../../emulator/fleet.js';
import {inProcessTransport, runSync} from '../../emulator/sync-runner.js';
import {Warehouse} from '../../emulator/warehouse.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {demo} from './demo.js';
import {connector} from './index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let db: TestDatabase;
let api: ApiSimulator;
let warehouse: Warehouse;
let stateDir: string;

beforeAll(async () => {
  db = await createTestDatabase('freshness_demo');
  api = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 1, seed: 1, mix: {healthy: 1}}), syncDurationMs: 60_000});
  warehouse = await Warehouse.open(':memory:');
  stateDir = mkdtempSync(path.join(tmpdir(), 'freshness-demo-'));
});
afterAll(async () => {
  await warehouse?.close();
  await api?.close();
  await db?.drop();
  if (stateDir) rmSync(stateDir, {recursive: true, force: true});
});

it('triggers a sync at 30% stale, then skips within the cooldown, printing both', async () => {
  const lines: string[] = [];
  const connectionId = api.fleet.connections[0]!.id;
  const ctx: DemoContext = {
    functionName: 'customer-freshness',
    connector: 'freshness',
    root,
    postgres: {host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, url: db.url},
    api: {url: api.url, apiKey: api.apiKey, apiSecret: api.apiSecret, connectionIds: [connectionId]},
    schema: 'customer_freshness',
    async sync(secrets) {
      const summary = await runSync({
        functionName: 'customer-freshness',
        transport: inProcessTransport(connector, {sink: () => undefined}),
        secrets,
        stateFile: path.join(stateDir, 'customer-freshness.json'),
        warehouse,
        schema: 'customer_freshness',
      });
      return {calls: summary.calls, rows: summary.rows, deletes: summary.deletes, state: summary.state, durationMs: summary.durationMs};
    },
    warehouse: async (sql) => (await warehouse.query(sql)).rows,
    print: (line) => lines.push(line),
  };

  await demo(ctx);

  expect(lines).toEqual([
    `30.00% stale > 10% threshold → sync triggered (connection ${connectionId})`,
    'data_freshness_monitor: 10 rows; sync_events: 1',
    'skipped: last trigger 0 min ago is within the 60 min cooldown (30.00% stale > 10% threshold)',
  ]);
  expect(api.syncs.map((sync) => sync.connectionId)).toEqual([connectionId]);
  const {rows} = await warehouse.query('SELECT count(*) AS checks FROM (SELECT DISTINCT check_timestamp FROM customer_freshness.data_freshness_monitor)');
  expect(rows[0]!.checks).toBe(2);
});
