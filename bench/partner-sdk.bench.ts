// npm run bench partner-sdk: the replication connector as a Partner SDK source connector (one Update
// streamed over gRPC on loopback, records decoded by a real @grpc/grpc-js client) beside the same connector
// through the Function adapter (every call of a full sync, in-process, bodies discarded), on the same
// orders table (100k rows by default; BENCH_ROWS=100000,500000). Both run in this process.
// Prints rows/s of each, the ratio, and the number of Records batches (each at most 100 records).
import {chmodSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {connector} from '../connectors/replication/index.js';
import {startEmbeddedPostgres} from '../emulator/embedded-postgres.js';
import {handleFunctionCall} from '../sdk/function-adapter.js';
import {Logger} from '../sdk/log.js';
import {runUpdate} from '../sdk/partner-sdk/update.js';
import {recordsOf, startHarness, update} from '../test/fixtures/grpc/client.js';

const sizes = (process.env.BENCH_ROWS ?? '100000').split(',').map(Number).filter((n) => n > 0);
process.env.LOG_LEVEL = 'WARNING';

async function functionSync(secrets: Record<string, string>): Promise<{rows: number; calls: number; seconds: number}> {
  const started = performance.now();
  let state = {};
  let rows = 0;
  let calls = 0;
  for (;;) {
    const result = await handleFunctionCall(connector, {state, secrets, sync_id: 'bench'}, {sink: () => undefined, limits: {memoryMb: 1024}});
    if (result.status !== 200) throw new Error(result.body);
    calls++;
    rows += result.summary?.rows.public_orders ?? result.summary?.rows.orders ?? 0;
    const body = JSON.parse(result.body) as {state: object; hasMore: boolean};
    state = body.state;
    if (!body.hasMore) break;
  }
  return {rows, calls, seconds: (performance.now() - started) / 1000};
}

const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bench-grpc-'));
chmodSync(dir, 0o755);
const server = await startEmbeddedPostgres({dataDir: path.join(dir, 'data')});
const harness = await startHarness(connector);
try {
  const admin = new pg.Client({connectionString: server.url});
  await admin.connect();
  await admin.query('CREATE DATABASE bench_grpc');
  await admin.end();
  const url = new URL(server.url.replace(/\/postgres$/, '/bench_grpc'));
  const db = new pg.Client({connectionString: url.toString()});
  await db.connect();
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
  const secrets = {
    host: url.hostname, port: url.port, database: 'bench_grpc', username: decodeURIComponent(url.username), password: decodeURIComponent(url.password),
    sslmode: 'disable', include_tables: 'orders',
  };
  console.log('function: every call of a full sync through the Function adapter, in-process (8 MiB responses)');
  console.log('stream:   one Update through the Partner SDK adapter (typed records, batches), messages discarded before gRPC');
  console.log('grpc:     one Update streamed to a @grpc/grpc-js client over loopback, records decoded\n');
  console.log(['rows', 'function rows/s', 'stream rows/s', 'grpc rows/s', 'grpc / function', 'calls', 'Records batches', 'max batch'].join('\t'));
  for (const size of sizes) {
    await db.query('TRUNCATE orders CASCADE');
    await db.query('SELECT generate_orders($1)', [size]);
    await db.query('VACUUM ANALYZE orders');
    await functionSync(secrets); // warm-up, untimed
    const fn = await functionSync(secrets);
    const adapterStarted = performance.now();
    const log = new Logger({connector: 'replication', sink: () => undefined, level: 'WARNING'});
    const adapter = await runUpdate(connector, {configuration: secrets}, {log, signal: new AbortController().signal, send: async () => undefined});
    const adapterRate = (adapter.upserts.public_orders ?? 0) / ((performance.now() - adapterStarted) / 1000);
    const started = performance.now();
    const streamed = await update(harness.client, {configuration: secrets});
    const seconds = (performance.now() - started) / 1000;
    if (streamed.error) throw streamed.error;
    const orders = recordsOf(streamed.messages).filter((r) => r.table_name.endsWith('orders')).length;
    const batches = streamed.messages.filter((m) => m.records).map((m) => m.records!.records.length);
    const fnRate = fn.rows / fn.seconds;
    const grpcRate = orders / seconds;
    console.log([size, Math.round(fnRate), Math.round(adapterRate), Math.round(grpcRate), (grpcRate / fnRate).toFixed(2), fn.calls, batches.length, Math.max(...batches)].join('\t'));
    if (orders !== size) throw new Error(`grpc streamed ${orders} orders, expected ${size}`);
  }
  await db.end();
} finally {
  await harness.close();
  await server.stop();
  rmSync(dir, {recursive: true, force: true});
}
