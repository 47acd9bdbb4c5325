// The replication connector in `./fivetran demo`: loads the demo source (sql/replication/setup.sql), runs a
// full load, changes a few rows (updates and inserts), and runs an incremental sync that must pick up
// exactly those rows. What it prints is read back from the warehouse, as a user would see it.
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
};
