// The replication demo script against the pieces `./fivetran demo` uses: a real PostgreSQL, the sync runner
// (calls through the Function adapter) and a DuckDB warehouse.
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, expect, it} from 'vitest';
import type {DemoContext} from '../../../emulator/demo-context.js';
import {inProcessTransport, runSync} from '../../../emulator/sync-runner.js';
import {Warehouse} from '../../../emulator/warehouse.js';
import {createTestDatabase, type TestDatabase} from '../../../test/support/postgres.js';
import {demo} from '../demo.js';
import {connector} from '../index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let db: TestDatabase;
let warehouse: Warehouse;
let stateDir: string;

beforeAll(async () => {
  db = await createTestDatabase('replication_demo');
  warehouse = await Warehouse.open(':memory:');
  stateDir = mkdtempSync(path.join(tmpdir(), 'replication-demo-'));
});
afterAll(async () => {
  await warehouse?.close();
  await db?.drop();
  if (stateDir) rmSync(stateDir, {recursive: true, force: true});
});

it('loads the demo source, then an incremental sync picks up exactly the changes', async () => {
  const lines: string[] = [];
  const ctx: DemoContext = {
    functionName: 'replication',
    connector: 'replication',
    root,
    postgres: {host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, url: db.url},
    api: {url: 'http://127.0.0.1:9', apiKey: 'k', apiSecret: 's', connectionIds: []},
    schema: 'replication',
    async sync(secrets) {
      const summary = await runSync({
        functionName: 'replication',
        transport: inProcessTransport(connector, {sink: () => undefined}),
        secrets,
        stateFile: path.join(stateDir, 'replication.json'),
        warehouse,
        schema: 'replication',
      });
      return {calls: summary.calls, rows: summary.rows, deletes: summary.deletes, state: summary.state, durationMs: summary.durationMs};
    },
    warehouse: async (sql) => (await warehouse.query(sql)).rows,
    print: (line) => lines.push(line),
  };

  await demo(ctx);

  expect(lines[0]).toBe('full load: 50 rows of 6 tables in 1 call(s) (customers 8, inventory 8, order_items 14, orders 8, products 8, suppliers 4)');
  // on the shared test server the late-commit sweep may re-read rows; every change must be there either way
  expect(lines[2]).toMatch(/^incremental: (exactly the 7 changed rows in 1 call\(s\) \(customers 1, inventory 1, order_items 2, orders 3\)|the 7 changed rows, plus \d+ re-read by the late-commit sweep)/);
  expect(lines[3]).toBe('warehouse: shipped ORD-2024-002, ORD-2024-004; ORD-DEMO-NEW has 2 items');
  expect(lines[4]).toMatch(/^replication_runs: 2 calls recorded, \d+ batches$/);
});
