// The replication connector in `./fivetran demo`: loads the demo source (sql/replication/setup.sql), runs a
// full load, changes a few rows (updates and inserts), and runs an incremental sync that must pick up
// exactly those rows; then switches to update_method cdc and shows a delete and a primary key update arriving
// through the replication slot (which it drops at the end: a slot left behind keeps WAL, and blocks DROP
// DATABASE). What it prints is read back from the warehouse, as a user would see it.
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type {DemoContext, DemoScript} from '../../sdk/index.js';
import {quoteIdent} from '../../sdk/postgres.js';

const SOURCE_TABLES = ['customers', 'suppliers', 'products', 'orders', 'order_items', 'inventory'];

/** The changes the incremental sync must find: destination table → number of rows changed. */
const EXPECTED_CHANGES: Record<string, number> = {public_orders: 3, public_order_items: 2, public_customers: 1, public_inventory: 1};

async function withSource<T>(ctx: DemoContext, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({connectionString: ctx.postgres.url});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const describeRows = (rows: Record<string, number>) =>
  Object.entries(rows)
    .filter(([table]) => table.startsWith('public_'))
    .map(([table, n]) => `${table.slice('public_'.length)} ${n}`)
    .join(', ');

export const demo: DemoScript = async (ctx) => {
  const setup = await readFile(path.join(ctx.root, 'sql/replication/setup.sql'), 'utf8');
  await withSource(ctx, (client) => client.query(setup));
  const secrets = {
    host: ctx.postgres.host,
    port: String(ctx.postgres.port),
    database: ctx.postgres.database,
    username: ctx.postgres.user,
    password: ctx.postgres.password,
    sslmode: 'disable',
    schemas: 'public',
    include_tables: SOURCE_TABLES.join(','),
  };

  const load = await ctx.sync(secrets, {label: 'full load'});
  const loaded = Object.entries(load.rows).filter(([table]) => table.startsWith('public_')).reduce((sum, [, n]) => sum + n, 0);
  ctx.print(`full load: ${loaded} rows of ${SOURCE_TABLES.length} tables in ${load.calls} call(s) (${describeRows(load.rows)})`);

  await withSource(ctx, async (client) => {
    await client.query(`UPDATE orders SET status = 'shipped' WHERE order_id IN (2, 4)`);
    await client.query(`UPDATE customers SET email = 'jane.doe@new-mail.example' WHERE customer_id = 1002`);
    await client.query(`UPDATE inventory SET quantity_on_hand = quantity_on_hand - 5 WHERE product_id = 'PROD-005' AND warehouse_id = 3`);
    const {rows} = await client.query<{order_id: string}>(
      `INSERT INTO orders (order_number, customer_id, order_date, total_amount, region, status, shipping_city)
       VALUES ('ORD-DEMO-NEW', 1004, now(), 249.98, 'Europe', 'paid', 'London') RETURNING order_id`,
    );
    await client.query(
      `INSERT INTO order_items (order_id, line_number, product_id, quantity, unit_price, total_price, region)
       VALUES ($1, 1, 'PROD-003', 1, 199.99, 199.99, 'Europe'), ($1, 2, 'PROD-004', 1, 49.99, 49.99, 'Europe')`,
      [rows[0]!.order_id],
    );
  });
  ctx.print('changed the source: 2 orders shipped, 1 customer e-mail, 1 stock count, 1 new order with 2 items');

  const incremental = await ctx.sync(secrets, {label: 'incremental'});
  const picked = Object.fromEntries(Object.entries(incremental.rows).filter(([table]) => table.startsWith('public_')));
  // Every change must arrive. More may: the late-commit sweep re-reads rows written after the oldest
  // transaction open on the server during the full load, which on a shared server (tests) can be older.
  const missing = Object.entries(EXPECTED_CHANGES).filter(([table, n]) => (picked[table] ?? 0) < n);
  if (missing.length) {
    throw new Error(`the incremental sync should have picked up ${describeRows(EXPECTED_CHANGES)}, but picked up ${describeRows(picked) || 'nothing'}`);
  }
  const pickedTotal = Object.values(picked).reduce((a, b) => a + b, 0);
  const expectedTotal = Object.values(EXPECTED_CHANGES).reduce((a, b) => a + b, 0);
  ctx.print(
    pickedTotal === expectedTotal
      ? `incremental: exactly the ${pickedTotal} changed rows in ${incremental.calls} call(s) (${describeRows(picked)})`
      : `incremental: the ${expectedTotal} changed rows, plus ${pickedTotal - expectedTotal} re-read by the late-commit sweep (a transaction was open elsewhere on the server), in ${incremental.calls} call(s) (${describeRows(picked)})`,
  );

  const orders = `${quoteIdent(ctx.schema)}.public_orders`;
  const shipped = await ctx.warehouse(`SELECT order_number FROM ${orders} WHERE status = 'shipped' ORDER BY order_number`);
  const added = await ctx.warehouse(`SELECT count(*) AS n FROM ${quoteIdent(ctx.schema)}.public_order_items i JOIN ${orders} o ON o.order_id = i.order_id WHERE o.order_number = 'ORD-DEMO-NEW'`);
  ctx.print(`warehouse: shipped ${shipped.map((r) => String(r.order_number)).join(', ')}; ORD-DEMO-NEW has ${Number(added[0]?.n ?? 0)} items`);
  const runs = await ctx.warehouse(`SELECT count(*) AS n, sum(batches) AS batches FROM ${quoteIdent(ctx.schema)}.replication_runs`);
  ctx.print(`replication_runs: ${Number(runs[0]?.n ?? 0)} calls recorded, ${Number(runs[0]?.batches ?? 0)} batches`);
  await changeDataCapture(ctx, secrets);
};

/**
 * The same connection switched to update_method cdc (the demo server runs wal_level = logical): the first
 * sync creates the slot and catches up by keyset; then a delete and a key update reach the warehouse
 * through the slot, which a keyset sync cannot see.
 */
async function changeDataCapture(ctx: DemoContext, keyset: Record<string, unknown>): Promise<void> {
  const secrets = {...keyset, update_method: 'cdc', cdc_slot: 'fivetran_demo_slot', cdc_publication: 'fivetran_demo_pub'};
  try {
    await ctx.sync(secrets, {label: 'switch to cdc'});
    const order = await withSource(ctx, async (client) => {
      const {rows} = await client.query<{order_id: string}>(`SELECT order_id::text FROM orders WHERE order_number = 'ORD-DEMO-NEW'`);
      const id = rows[0]!.order_id;
      await client.query(`DELETE FROM order_items WHERE order_id = $1 AND line_number = 2`, [id]);
      await client.query(`UPDATE order_items SET line_number = 5 WHERE order_id = $1 AND line_number = 1`, [id]);
      return id;
    });
    ctx.print('changed the source: deleted item 2 of ORD-DEMO-NEW, renumbered its item 1 to 5 (a primary key update)');
    const cdc = await ctx.sync(secrets, {label: 'cdc'});
    const deletes = cdc.deletes.public_order_items ?? 0;
    const items = await ctx.warehouse(`SELECT line_number FROM ${quoteIdent(ctx.schema)}.public_order_items WHERE order_id = ${Number(order)} ORDER BY line_number`);
    const lines = items.map((r) => Number(r.line_number));
    if (deletes !== 2 || lines.join(',') !== '5') {
      throw new Error(`the cdc sync should have deleted 2 items of ORD-DEMO-NEW (item 2, and item 1 under its old key) and left item 5, but deleted ${deletes} and left ${lines.join(', ') || 'none'}`);
    }
    ctx.print(`cdc: ${deletes} deletes and 1 upsert in ${cdc.calls} call(s); warehouse: ORD-DEMO-NEW has item ${lines.join(', ')} only`);
  } finally {
    await withSource(ctx, (client) => client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'fivetran_demo_slot'`));
  }
}
