// The replication demo script against the pieces `./fivetran demo` uses: a real PostgreSQL, the sync runner
// (calls through the Function adapter) and a DuckDB warehouse.
import {afterAll, beforeAll, expect, it} from 'vitest';
import {Warehouse} from '../../emulator/warehouse.js';
import {testDemoContext} from '../../test/support/demo-context.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {demo} from './demo.js';
import {connector} from './index.js';

let db: TestDatabase;
let warehouse: Warehouse;

beforeAll(async () => {
  db = await createTestDatabase('replication_demo');
  warehouse = await Warehouse.open(':memory:');
});
afterAll(async () => {
  await warehouse?.close();
  await db?.drop();
});

it('loads the demo source, an incremental sync picks up exactly the changes, and a delete and a key update arrive through cdc', async () => {
  const {ctx, lines, cleanup} = testDemoContext({functionName: 'replication', connector, db, warehouse});

  await demo(ctx).finally(cleanup);

  expect(lines[0]).toBe('full load: 50 rows of 6 tables in 1 call(s) (customers 8, inventory 8, order_items 14, orders 8, products 8, suppliers 4)');
  // on the shared test server the late-commit sweep may re-read rows; every change must be there either way
  expect(lines[2]).toMatch(/^incremental: (exactly the 7 changed rows in 1 call\(s\) \(customers 1, inventory 1, order_items 2, orders 3\)|the 7 changed rows, plus \d+ re-read by the late-commit sweep)/);
  expect(lines[3]).toBe('warehouse: shipped ORD-2024-002, ORD-2024-004; ORD-DEMO-NEW has 2 items');
  expect(lines[4]).toMatch(/^replication_runs: 2 calls recorded, \d+ batches$/);
  // then through change data capture: a delete and a primary key update
  expect(lines[5]).toBe('changed the source: deleted item 2 of ORD-DEMO-NEW, renumbered its item 1 to 5 (a primary key update)');
  expect(lines[6]).toMatch(/^cdc: 2 deletes and 1 upsert in 1 call\(s\); warehouse: ORD-DEMO-NEW has item 5 only$/);
  expect((await db.query(`SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database()`)).rows[0].n).toBe(0);
});
