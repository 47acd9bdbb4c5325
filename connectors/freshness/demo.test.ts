// The freshness demo script against the pieces `./fivetran demo` uses: a real PostgreSQL, the Fivetran API
// simulator, the sync runner (calls through the Function adapter) and a DuckDB warehouse.
import {afterAll, beforeAll, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {Warehouse} from '../../emulator/warehouse.js';
import {testDemoContext} from '../../test/support/demo-context.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {demo} from './demo.js';
import {connector} from './index.js';

let db: TestDatabase;
let api: ApiSimulator;
let warehouse: Warehouse;

beforeAll(async () => {
  db = await createTestDatabase('freshness_demo');
  api = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 1, seed: 1, mix: {healthy: 1}}), syncDurationMs: 60_000});
  warehouse = await Warehouse.open(':memory:');
});
afterAll(async () => {
  await warehouse?.close();
  await api?.close();
  await db?.drop();
});

it('triggers a sync at 30% stale, then skips within the cooldown, printing both', async () => {
  const connectionId = api.fleet.connections[0]!.id;
  const {ctx, lines, cleanup} = testDemoContext({
    functionName: 'customer-freshness',
    connector,
    db,
    warehouse,
    api: {url: api.url, apiKey: api.apiKey, apiSecret: api.apiSecret, connectionIds: [connectionId]},
  });

  await demo(ctx).finally(cleanup);

  expect(lines).toEqual([
    `30.00% stale > 10% threshold → sync triggered (connection ${connectionId})`,
    'data_freshness_monitor: 10 rows; sync_events: 1',
    'skipped: last trigger 0 min ago is within the 60 min cooldown (30.00% stale > 10% threshold)',
  ]);
  expect(api.syncs.map((sync) => sync.connectionId)).toEqual([connectionId]);
  const {rows} = await warehouse.query('SELECT count(*) AS checks FROM (SELECT DISTINCT check_timestamp FROM customer_freshness.data_freshness_monitor)');
  expect(rows[0]!.checks).toBe(2);
});
