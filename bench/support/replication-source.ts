// The replication benchmark's source, for benchmarks that sync it: an embedded PostgreSQL with the demo schema
// (sql/replication/setup.sql), an orders table of any size (generate_orders), the replication function as
// ./fivetran deploy ships it (the esbuild bundle on functions-framework, in a child process, with the budgets
// deploy.yaml gives it), and a driver that plays Fivetran over HTTP as bench/replication.bench.ts does:
// POST with the returned state until hasMore is false, reading only the state and hasMore before the next call.
import {chmodSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {bundleConnector, writeFunctionBundle} from '../../cli/bundle.js';
import {loadDeployConfig, memoryMb, timeoutSeconds, type DeployFunction} from '../../project/deploy-yaml.js';
import {startEmbeddedPostgres} from '../../emulator/embedded-postgres.js';
import {DEFAULT_RESPONSE_CAP_BYTES, MALLOC_ENVIRONMENT} from '../../sdk/budget.js';
import {firstAnswer, startBundledFunction, type RunningProcess} from '../../test/support/bundled-function.js';

export interface ReplicationSource {
  /** the source database's URL */
  url: string;
  /** the environment deploy.yaml gives the replication function (its budgets) */
  env: Record<string, string>;
  /** the function's secrets for the orders table */
  secrets: Record<string, string>;
  /** the response cap the function runs with */
  capBytes: number;
  memoryMb: number;
  /** replaces public.orders with `rows` generated rows */
  fillOrders(rows: number): Promise<void>;
  /** starts a fresh function process (answered one call already) */
  startFunction(): Promise<RunningProcess>;
  stop(): Promise<void>;
}

export async function startReplicationSource(root: string): Promise<ReplicationSource> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bench-pg-'));
  chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres({dataDir: path.join(dir, 'data')});
  const admin = new pg.Client({connectionString: server.url});
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query('CREATE DATABASE bench');
  const url = server.url.replace(/\/postgres$/, '/bench');
  const db = new pg.Client({connectionString: url});
  db.on('error', () => undefined);
  await db.connect();
  await db.query(readFileSync(path.join(root, 'sql/replication/setup.sql'), 'utf8'));
  const parsed = new URL(url);
  const secrets = {
    host: parsed.hostname, port: parsed.port, database: 'bench', username: 'postgres', password: decodeURIComponent(parsed.password),
    sslmode: 'disable', include_tables: 'orders',
  };
  const deployed = loadDeployConfig(root).find((fn) => fn.connector === 'replication');
  const memory = memoryMb(deployed?.memory);
  const capBytes = Number(deployed?.response_cap_bytes ?? DEFAULT_RESPONSE_CAP_BYTES);
  const env: Record<string, string> = {
    FUNCTION_MEMORY_MB: String(memory),
    FUNCTION_TIMEOUT_SECONDS: String(timeoutSeconds(deployed?.timeout)),
    FIVETRAN_RESPONSE_CAP_BYTES: String(capBytes),
    LOG_LEVEL: 'WARNING',
    ...MALLOC_ENVIRONMENT,
  };
  const fnEntry: DeployFunction = deployed ?? {name: 'replication', connector: 'replication', environment: 'dev'};
  // built on first use: a benchmark that serves the function another way needs no bundle of its own
  let bundle: Promise<{dir: string}> | undefined;
  return {
    url,
    env,
    secrets,
    capBytes,
    memoryMb: memory,
    fillOrders: async (rows) => {
      await db.query('TRUNCATE orders CASCADE');
      await db.query("SELECT setval(pg_get_serial_sequence('orders', 'order_id'), 1, false)");
      await db.query('SELECT generate_orders($1)', [rows]);
      await db.query('VACUUM ANALYZE orders');
    },
    startFunction: async () => {
      bundle ??= bundleConnector(root, 'replication', fnEntry.runtime).then((built) => writeFunctionBundle(root, path.join(dir, 'build'), fnEntry, built));
      const fn = await startBundledFunction(root, (await bundle).dir, env);
      await firstAnswer(fn, {state: {}, secrets: {}});
      return fn;
    },
    stop: async () => {
      await db.end();
      await admin.end();
      await server.stop();
      rmSync(dir, {recursive: true, force: true});
    },
  };
}
