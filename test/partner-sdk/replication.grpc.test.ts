// The replication connector as a Partner SDK source connector, over real gRPC against a real PostgreSQL:
// ConfigurationForm → Test → Schema → Update, typed records in batches of at most 100, and resuming from
// every checkpoint gives the same rows.
import {readFileSync} from 'node:fs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {connector} from '../../connectors/replication/index.js';
import {createTestDatabase, type TestDatabase} from '../support/postgres.js';
import {
  applyRecords, configurationForm, fieldsByName, plainValue, recordsOf, resumeFromEveryCheckpoint, runTest, schema, snapshot, startHarness, update,
  type Harness,
} from '../fixtures/grpc/client.js';

let db: TestDatabase;
let harness: Harness;
let config: Record<string, string>;
const keys: Record<string, readonly string[]> = {};

beforeAll(async () => {
  db = await createTestDatabase('grpc_replication');
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
  // Enough orders for batches past 100 records, with exact decimals and microsecond timestamps.
  await db.query(`INSERT INTO orders (order_number, customer_id, order_date, total_amount, region, updated_at)
    SELECT 'GRPC-' || g, 1001, timestamptz '2024-05-01 00:00:00.000001+00' + g * interval '1 minute', 1234567890.12 + g, 'Europe',
           timestamptz '2024-06-01 00:00:00+00' + g * interval '1 second'
      FROM generate_series(1, 600) AS g`);
  await db.query(`CREATE TABLE all_types (
      id bigint PRIMARY KEY, small smallint, whole integer, amount numeric(20,6), plain_numeric numeric, ratio real, measure double precision,
      flag boolean, day date, local_at timestamp(6), at timestamptz, doc json, docb jsonb, blob bytea, markup xml, uid uuid, tags text[],
      clock time, span interval, updated_at timestamptz NOT NULL DEFAULT now())`);
  await db.query(`INSERT INTO all_types VALUES
      (1, -7, 2147483647, 12345678901234.123456, 0.1, 1.5, 2.25, true, '2024-02-29', '2024-02-29 23:59:59.999999',
       '2024-02-29 23:59:59.999999-05', '{"a": [1, 2]}', '{"b": null}', '\\x00ff10', '<a>1</a>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
       ARRAY['x', 'y'], '13:14:15', '1 day 2 hours', now()),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, now())`);
  harness = await startHarness(connector);
  config = {host: db.host, port: String(db.port), database: db.database, username: db.user, password: db.password, sslmode: 'disable', retry_sleep_seconds: '0.01'};
});

afterAll(async () => {
  await harness?.close();
  await db?.drop();
});

describe('replication over the Partner SDK', () => {
  it('offers its secrets as a form and passes its setup test', async () => {
    const form = await configurationForm(harness.client);
    const byName = fieldsByName(form);
    expect(byName.password).toMatchObject({text_field: 'Password', required: false});
    expect(byName.sslmode?.dropdown_field?.dropdown_field).toContain('verify-full');
    expect(byName.debug).toMatchObject({type: 'toggle_field', default_value: 'false'});
    expect(byName.schemas).toMatchObject({default_value: 'public', required: false});
    expect(form.tests.map((t) => t.name)).toEqual(connector.setupTests.map((t) => t.name));
    for (const test of form.tests) expect(await runTest(harness.client, test.name, config)).toMatchObject({success: true});
    const wrong = await runTest(harness.client, form.tests[0]!.name, {...config, password: 'wrong-replication-pw'});
    expect(wrong.failure).toMatch(/password/);
    expect(wrong.failure).not.toContain('wrong-replication-pw');
  });

  it('lists the source tables with PostgreSQL-derived types and primary keys', async () => {
    const answer = await schema(harness.client, config);
    const tables = answer.without_schema?.tables ?? [];
    for (const table of tables) keys[table.name] = table.columns.filter((c) => c.primary_key).map((c) => c.name);
    const orders = tables.find((t) => t.name.endsWith('orders'));
    expect(orders, JSON.stringify(tables.map((t) => t.name))).toBeDefined();
    const types = Object.fromEntries((orders?.columns ?? []).map((c) => [c.name, c.type]));
    expect(Object.values(types)).toContain('UTC_DATETIME');
    expect(tables.some((t) => t.columns.some((c) => c.type === 'DECIMAL' && c.params?.decimal))).toBe(true);
    expect(keys[orders!.name]!.length).toBeGreaterThan(0);
    // the connector's own discover: the source tables plus the tables every sync writes about itself
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['public_orders', 'public_all_types', 'postgres_tables', 'postgres_columns', 'replication_runs']));
    expect(keys.replication_runs).toEqual(['call_id']);
  });

  it('maps PostgreSQL types to DataTypes in Schema and to ValueTypes in Update', async () => {
    const answer = await schema(harness.client, config);
    const table = answer.without_schema?.tables.find((t) => t.name.endsWith('all_types'));
    const columns = Object.fromEntries((table?.columns ?? []).map((c) => [c.name, c.params?.decimal ? `${c.type}(${c.params.decimal.precision},${c.params.decimal.scale})` : c.type]));
    expect(columns).toMatchObject({
      id: 'LONG', small: 'SHORT', whole: 'INT', amount: 'DECIMAL(20,6)', plain_numeric: 'DECIMAL', ratio: 'FLOAT', measure: 'DOUBLE', flag: 'BOOLEAN',
      day: 'NAIVE_DATE', local_at: 'NAIVE_DATETIME', at: 'UTC_DATETIME', doc: 'JSON', docb: 'JSON', blob: 'BINARY', markup: 'XML', uid: 'STRING',
      tags: 'JSON', clock: 'STRING', span: 'STRING',
    });
    expect(table?.columns.find((c) => c.name === 'id')?.primary_key).toBe(true);

    const {messages, error} = await update(harness.client, {
      configuration: config,
      selection: {without_schema: {include_new_tables: false, tables: [{table_name: table!.name, included: true, columns: {}, include_new_columns: true}]}},
    });
    expect(error).toBeUndefined();
    const rows = recordsOf(messages).filter((r) => r.table_name === table!.name);
    const first = Object.fromEntries(Object.entries(rows.find((r) => r.data.id?.long === '1')?.data ?? {}).map(([k, v]) => [k, plainValue(v)]));
    expect(first).toMatchObject({
      small: 'short:-7', whole: 'int:2147483647', amount: 'decimal:12345678901234.123456', plain_numeric: 'decimal:0.1', ratio: 'float:1.5',
      measure: 'double:2.25', flag: 'bool:true', day: 'naive_date:2024-02-29T00:00:00.000000000Z',
      local_at: 'naive_datetime:2024-02-29T23:59:59.999999000Z', at: 'utc_datetime:2024-03-01T04:59:59.999999000Z',
      doc: 'json:{"a":[1,2]}', docb: 'json:{"b":null}', blob: '\\x00ff10', markup: 'xml:<a>1</a>', uid: 'string:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      tags: 'json:["x","y"]', clock: 'string:13:14:15',
    });
    const second = rows.find((r) => r.data.id?.long === '2')?.data ?? {};
    for (const column of ['small', 'amount', 'at', 'doc', 'blob', 'tags']) expect(plainValue(second[column]), column).toBeNull();
  });

  it('streams every source row typed, in batches of at most 100, with checkpoints; resuming from each gives the same rows', async () => {
    const request = {configuration: {...config, custom_batch_size: '250'}};
    const first = await update(harness.client, request);
    expect(first.error).toBeUndefined();
    expect(first.messages.some((m) => m.task)).toBe(false);
    const batches = first.messages.flatMap((m) => (m.records ? [m.records.records.length] : []));
    expect(Math.max(...batches)).toBe(100);
    const checkpoints = first.messages.filter((m) => m.checkpoint);
    expect(checkpoints.length).toBeGreaterThan(3);

    // Runtime tables (not in Schema) get primary keys from SchemaChange; merge them in.
    for (const change of first.messages.filter((m) => m.schema_change)) {
      for (const table of change.schema_change?.without_schema?.tables ?? []) keys[table.name] = table.columns.filter((c) => c.primary_key).map((c) => c.name);
    }
    const records = recordsOf(first.messages);
    const sourceCounts = await db.query<{table_name: string; n: string}>(
      `SELECT 'orders' AS table_name, count(*)::text AS n FROM orders UNION ALL SELECT 'customers', count(*)::text FROM customers`,
    );
    for (const {table_name: table, n} of sourceCounts.rows) {
      const dest = Object.keys(keys).find((name) => name === table || name.endsWith(`_${table}`));
      const rows = snapshot(applyRecords(new Map(), records.filter((r) => r.table_name === dest), keys))[dest!] ?? [];
      expect(rows.length, table).toBe(Number(n));
    }
    // A numeric and a timestamptz column arrive typed.
    const order = records.find((r) => r.table_name.endsWith('orders'));
    const kinds = new Set(Object.values(order?.data ?? {}).map((v) => v.inner));
    expect(kinds.has('utc_datetime') || kinds.has('naive_datetime')).toBe(true);
    expect([...kinds].some((k) => k === 'decimal' || k === 'long' || k === 'int')).toBe(true);
    expect(plainValue(order?.data[keys[order!.table_name]![0]!])).not.toBeNull();
    const grpcOrder = records.find((r) => r.table_name.endsWith('orders') && r.data.order_number?.string === 'GRPC-7');
    expect(plainValue(grpcOrder?.data.total_amount)).toBe('decimal:1234567897.12');
    expect(plainValue(grpcOrder?.data.order_date)).toBe('utc_datetime:2024-05-01T00:07:00.000001000Z');

    const withoutRuns = (rows: ReturnType<typeof snapshot>) => Object.fromEntries(Object.entries(rows).filter(([table]) => table !== 'replication_runs'));
    const resumed = await resumeFromEveryCheckpoint(harness.client, request, first, keys);
    expect(resumed).toHaveLength(checkpoints.length);
    for (const run of resumed) expect(withoutRuns(run.actual), `resumed from ${run.stateJson}`).toEqual(withoutRuns(run.expected));
  });

  it('sends one Task when the source refuses the credentials', async () => {
    const {messages, error} = await update(harness.client, {configuration: {...config, password: 'nope-nope-nope', max_retries: '0'}});
    expect(error).toBeUndefined();
    expect(messages.filter((m) => m.task)).toHaveLength(1);
    expect(messages.at(-1)?.task?.message).not.toContain('nope-nope-nope');
    expect(recordsOf(messages).filter((r) => r.table_name !== 'replication_runs')).toHaveLength(0);
  });
});
