// How fast the local warehouse applies large Function responses (the replication connector sends up to
// 8 MiB each): strict check + one transaction per response, for a keyed (upsert) and an append table.
// Reference, measured in the same run: DuckDB's appender filling a typed table from the same parsed rows
// with no check, no type conversion in SQL and no upsert — the floor of what ingestion from JS costs.
import {DuckDBInstance} from '@duckdb/node-api';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {checkResponse} from '../emulator/response-check.js';
import {Warehouse} from '../emulator/warehouse.js';

const RESPONSES = 5;
const ROWS = 40_000;
const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-warehouse-bench-'));

const rowsOf = (batch: number) =>
  Array.from({length: ROWS}, (_, i) => ({
    id: batch * ROWS + i,
    name: `customer number ${i}`,
    email: `c${i}@example.com`,
    balance: i * 1.25,
    active: i % 3 === 0,
    created_at: '2025-06-01T12:00:00Z',
    updated_at: '2026-01-01T08:30:00.123Z',
    tags: ['a', 'b'],
    note: i % 5 ? null : 'vip',
  }));
const bodies = Array.from({length: RESPONSES}, (_, b) => JSON.stringify({state: {b}, insert: {customers: rowsOf(b)}, delete: {}, schema: {customers: {primary_key: ['id']}}, hasMore: true}));
const mib = bodies[0]!.length / 1024 / 1024;
const report = (label: string, ms: number) =>
  console.log(`${label.padEnd(46)} ${String(ms).padStart(6)} ms  ${Math.round((RESPONSES * ROWS) / (ms / 1000)).toLocaleString('en-US').padStart(9)} rows/s  ${((RESPONSES * mib) / (ms / 1000)).toFixed(1).padStart(5)} MiB/s`);

const measured: Record<string, number> = {};
try {
  console.log(`${RESPONSES} responses of ${ROWS.toLocaleString('en-US')} rows × 9 columns, ${mib.toFixed(1)} MiB each`);
  for (const keyed of [true, false]) {
    const warehouse = await Warehouse.open(path.join(dir, `${keyed ? 'keyed' : 'append'}.duckdb`));
    const started = Date.now();
    for (const body of bodies) {
      const response = checkResponse(200, body);
      if (!keyed) response.schema = {customers: {}};
      await warehouse.apply('bench', response);
    }
    measured[keyed ? 'upsert by key' : 'append'] = Date.now() - started;
    report(`warehouse: check + apply, ${keyed ? 'upsert by key' : 'append'}`, measured[keyed ? 'upsert by key' : 'append']!);
    await warehouse.close();
  }

  const instance = await DuckDBInstance.create(path.join(dir, 'appender.duckdb'));
  const connection = await instance.connect();
  await connection.run('CREATE TABLE customers (id BIGINT, name VARCHAR, email VARCHAR, balance DOUBLE, active BOOLEAN, created_at VARCHAR, updated_at VARCHAR, tags VARCHAR, note VARCHAR)');
  const started = Date.now();
  for (const body of bodies) {
    const rows = (JSON.parse(body) as {insert: {customers: ReturnType<typeof rowsOf>}}).insert.customers;
    await connection.run('BEGIN');
    const appender = await connection.createAppender('customers');
    for (const row of rows) {
      appender.appendBigInt(BigInt(row.id));
      appender.appendVarchar(row.name);
      appender.appendVarchar(row.email);
      appender.appendDouble(row.balance);
      appender.appendBoolean(row.active);
      appender.appendVarchar(row.created_at);
      appender.appendVarchar(row.updated_at);
      appender.appendVarchar(JSON.stringify(row.tags));
      if (row.note === null) appender.appendNull();
      else appender.appendVarchar(row.note);
      appender.endRow();
    }
    appender.closeSync();
    await connection.run('COMMIT');
  }
  const reference = Date.now() - started;
  report('reference: raw appender (parse only, append)', reference);
  for (const [label, ms] of Object.entries(measured)) console.log(`ratio, ${label}: ${(reference / ms).toFixed(2)} (warehouse rows/s ÷ raw appender rows/s)`);
  connection.closeSync();
  instance.closeSync();
} finally {
  rmSync(dir, {recursive: true, force: true});
}
