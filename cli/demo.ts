// ./fivetran demo: the whole fleet end to end on a laptop with only Node.js. Starts an embedded PostgreSQL
// (one database per function, loaded from sql/<connector>/setup_postgres.sql), the Fivetran REST API
// simulator, and a fresh DuckDB warehouse; then runs each deploy.yaml function's demo script
// (connectors/<connector>/demo.ts, the DemoContext contract) whose syncs go through the same sync loop as
// ./fivetran sync. Prints what happened per function, stops everything it started (also on Ctrl-C), and
// reports failure when any function failed. The pieces (the simulator, the warehouse, the sync loop, embedded
// PostgreSQL) are the emulator's; this module puts them together for the command.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import pg from 'pg';
import {startApiSimulator, type ApiSimulator} from '../emulator/api-simulator.js';
import {startEmbeddedPostgres, type RunningPostgres} from '../emulator/embedded-postgres.js';
import {generateFleet} from '../emulator/fleet.js';
import {inProcessTransport, runSync, SyncFailed} from '../emulator/sync-runner.js';
import {schemaNameFor, Warehouse} from '../emulator/warehouse.js';
import {connectorEntries, loadDeployConfig, memoryMb, timeoutSeconds, type ConnectorFunction} from '../project/deploy-yaml.js';
import {loadConnector, projectRoot} from '../project/root.js';
import type {DemoContext, DemoScript, DemoSyncResult} from '../sdk/index.js';
import {CliConfigError, CommandFailed} from './errors.js';
import {formatTable} from './output.js';

export const DEMO_DIR = path.join('.fivetran', 'demo');
export const DEMO_WAREHOUSE_FILE = path.join(DEMO_DIR, 'warehouse.duckdb');
/** each function's demo gets this long; the whole demo must stay under a minute */
const FUNCTION_DEMO_TIMEOUT_MS = 40_000;

export interface DemoOptions {
  cwd?: string;
  /** only these functions of deploy.yaml (default: all) */
  only?: string[];
  write?: (text: string) => void;
  /** stop services and exit on SIGINT/SIGTERM (the CLI); tests leave it off */
  handleSignals?: boolean;
  /** an existing PostgreSQL admin URL instead of starting one (tests pass the suite's server) */
  postgresUrl?: string;
  /** where the warehouse and state files go (default .fivetran/demo; emptied first) */
  outputDir?: string;
}

export interface DemoFunctionResult {
  function: string;
  connector: string;
  schema: string;
  status: 'ok' | 'failed' | 'skipped';
  note?: string;
  calls: number;
  rows: Record<string, number>;
  deletes: Record<string, number>;
  durationMs: number;
}

export interface DemoResult {
  ok: boolean;
  functions: DemoFunctionResult[];
  warehouseFile: string;
  durationMs: number;
}

const pgIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The demo database of a function: `demo_<function>`, as `./fivetran demo` and `./fivetran postgres` create it. */
export function databaseNameFor(functionName: string): string {
  return `demo_${functionName.toLowerCase().replace(/[^a-z0-9_]+/g, '_')}`.slice(0, 63);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
const rowsText = (rows: Record<string, number>) =>
  Object.entries(rows)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([table, n]) => `${table} ${n.toLocaleString('en-US')}`)
    .join(', ') || 'no rows';

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const startedAt = Date.now();
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const say = (line = '') => write(line + '\n');
  const root = projectRoot(options.cwd);
  // the demo syncs connectors; a function entry (functions/) has no demo.ts and no sync to show
  let functions: ConnectorFunction[] = connectorEntries(loadDeployConfig(root));
  if (options.only?.length) {
    const unknown = options.only.filter((name) => !functions.some((fn) => fn.name === name));
    if (unknown.length) throw new Error(`not in deploy.yaml: ${unknown.join(', ')}; functions: ${functions.map((fn) => fn.name).join(', ')}`);
    functions = functions.filter((fn) => options.only!.includes(fn.name));
  }

  const demoDir = options.outputDir ? path.resolve(root, options.outputDir) : path.join(root, DEMO_DIR);
  const warehouseFile = path.join(demoDir, 'warehouse.duckdb');
  const warehouseArg = path.relative(options.cwd ?? process.cwd(), warehouseFile) || warehouseFile;
  rmSync(demoDir, {recursive: true, force: true});
  mkdirSync(path.join(demoDir, 'state'), {recursive: true});

  let postgres: Promise<RunningPostgres> | undefined;
  let postgresDir: string | undefined;
  let simulator: ApiSimulator | undefined;
  let warehouse: Warehouse | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      await warehouse?.close().catch(() => undefined);
      await simulator?.close().catch(() => undefined);
      // a signal during startup waits for the server to be up, then stops it
      await (await postgres?.catch(() => undefined))?.stop().catch(() => undefined);
      if (postgresDir) rmSync(postgresDir, {recursive: true, force: true});
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    write(`\ninterrupted (${signal}): stopping PostgreSQL and the API simulator\n`);
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  // the temporary folder goes on exit, however the demo ends
  const removePostgresDir = () => {
    if (postgresDir) rmSync(postgresDir, {recursive: true, force: true});
  };
  process.once('exit', removePostgresDir);
  if (options.handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  const results: DemoFunctionResult[] = [];
  try {
    let adminUrl = options.postgresUrl;
    if (!adminUrl) {
      const started = Date.now();
      postgresDir = mkdtempSync(path.join(tmpdir(), 'fivetran-demo-pg-'));
      chmodSync(postgresDir, 0o755);
      postgres = startEmbeddedPostgres({dataDir: path.join(postgresDir, 'data')});
      const server = await postgres;
      adminUrl = server.url;
      say(`PostgreSQL    embedded, port ${server.port} (started in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
    simulator = await startApiSimulator({fleet: generateFleet({groups: 3, connectionsPerGroup: 8, seed: 7}), syncDurationMs: 1500, rateLimit: false});
    // one connection per function, first in its connectionIds: a healthy manual connection it may trigger
    for (const fn of functions) {
      simulator.addConnection({id: `demo_${schemaNameFor(fn.name)}`, group_id: 'demo_functions', groupName: 'demo functions', schema: schemaNameFor(fn.name), schedule_type: 'manual'});
    }
    const fleetIds = simulator.fleet.connections.filter((c) => !c.id.startsWith('demo_')).sort((a, b) => Number(b.health === 'healthy') - Number(a.health === 'healthy')).map((c) => c.id);
    say(`Fivetran API  simulator at ${simulator.url}/v1 (${simulator.fleet.groups.length} groups, ${simulator.fleet.connections.length} connections)`);
    warehouse = await Warehouse.open(warehouseFile);
    say(`Warehouse     ${path.relative(root, warehouseFile)} (DuckDB)`);
    const url = new URL(adminUrl);

    for (const fn of functions) {
      const schema = schemaNameFor(fn.name);
      const result: DemoFunctionResult = {function: fn.name, connector: fn.connector, schema, status: 'ok', calls: 0, rows: {}, deletes: {}, durationMs: 0};
      results.push(result);
      const fnStarted = Date.now();
      say();
      say(`▸ ${fn.name} (connector ${fn.connector}, schema ${schema})`);
      const print = (line: string) => say(`    ${line}`);
      const demoFile = path.join(root, 'connectors', fn.connector, 'demo.ts');
      if (!existsSync(demoFile)) {
        result.status = 'skipped';
        result.note = `connectors/${fn.connector}/demo.ts does not exist yet`;
        print(`skipped: ${result.note}`);
        continue;
      }
      const database = databaseNameFor(fn.name);
      const databaseUrl = new URL(adminUrl);
      databaseUrl.pathname = `/${database}`;
      const runSqlFile = async (file: string) => {
        const full = [path.join(root, 'sql', file), path.join(root, file)].find((candidate) => existsSync(candidate));
        if (!full) throw new Error(`SQL file ${file} not found under sql/ or the project root`);
        const client = new pg.Client({connectionString: databaseUrl.toString()});
        await client.connect();
        try {
          await client.query(readFileSync(full, 'utf8'));
        } catch (error) {
          throw new Error(`${path.relative(root, full)} failed: ${(error as Error).message}`);
        } finally {
          await client.end();
        }
      };
      try {
        await withTimeout(
          (async () => {
            const admin = new pg.Client({connectionString: adminUrl});
            await admin.connect();
            try {
              await admin.query(`DROP DATABASE IF EXISTS ${pgIdent(database)} WITH (FORCE)`);
              await admin.query(`CREATE DATABASE ${pgIdent(database)}`);
            } finally {
              await admin.end();
            }
            const setupFile = path.join(root, 'sql', fn.connector, 'setup_postgres.sql');
            if (existsSync(setupFile)) {
              await runSqlFile(path.join(fn.connector, 'setup_postgres.sql'));
              print(`source: database ${database} loaded from sql/${fn.connector}/setup_postgres.sql`);
            }
            const connector = await loadConnector(root, fn.connector);
            const module = (await import(pathToFileURL(demoFile).href)) as {demo?: DemoScript};
            if (typeof module.demo !== 'function') throw new Error(`connectors/${fn.connector}/demo.ts does not export \`demo\` (export const demo: DemoScript = async (ctx) => ...)`);
            const transport = inProcessTransport(connector, {
              limits: {
                ...(fn.response_cap_bytes ? {responseCapBytes: fn.response_cap_bytes} : {}),
                timeoutSeconds: timeoutSeconds(fn.timeout),
                memoryMb: memoryMb(fn.memory),
              },
              sink: () => undefined,
            });
            const stateFile = path.join(demoDir, 'state', `${fn.name}.json`);
            const ctx: DemoContext = {
              functionName: fn.name,
              connector: fn.connector,
              root,
              postgres: {host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database, url: databaseUrl.toString()},
              api: {url: simulator!.url, apiKey: simulator!.apiKey, apiSecret: simulator!.apiSecret, connectionIds: [`demo_${schema}`, ...fleetIds]},
              schema,
              print,
              simulator,
              runSqlFile,
              async sync(secrets, syncOptions = {}): Promise<DemoSyncResult> {
                try {
                  const summary = await runSync({functionName: fn.name, transport, secrets, stateFile, warehouse: warehouse!, schema});
                  result.calls += summary.calls;
                  for (const [table, n] of Object.entries(summary.rows)) result.rows[table] = (result.rows[table] ?? 0) + n;
                  for (const [table, n] of Object.entries(summary.deletes)) result.deletes[table] = (result.deletes[table] ?? 0) + n;
                  const deletes = Object.values(summary.deletes).reduce((a, b) => a + b, 0);
                  print(
                    `sync${syncOptions.label ? ` (${syncOptions.label})` : ''}: ${plural(summary.calls, 'call')}, rows: ${rowsText(summary.rows)}${deletes ? `, deletes: ${rowsText(summary.deletes)}` : ''} in ${(summary.durationMs / 1000).toFixed(1)} s`,
                  );
                  for (const warning of summary.warnings) print(`warning: ${warning}`);
                  return {calls: summary.calls, rows: summary.rows, deletes: summary.deletes, state: summary.state, durationMs: summary.durationMs};
                } catch (error) {
                  if (error instanceof SyncFailed) throw new Error(`sync${syncOptions.label ? ` (${syncOptions.label})` : ''} ${error.message}`);
                  throw error;
                }
              },
              async warehouse(sql) {
                return (await warehouse!.query(sql)).rows;
              },
            };
            await module.demo(ctx);
          })(),
          FUNCTION_DEMO_TIMEOUT_MS,
          `did not finish within ${FUNCTION_DEMO_TIMEOUT_MS / 1000} s`,
        );
      } catch (error) {
        result.status = 'failed';
        result.note = (error as Error).message.split('\n')[0];
        print(`✗ failed: ${result.note}`);
      }
      result.durationMs = Date.now() - fnStarted;
      if (result.status === 'ok') print(`✓ ${plural(result.calls, 'call')}, rows: ${rowsText(result.rows)} (${(result.durationMs / 1000).toFixed(1)} s)`);
    }

    say();
    const ok = results.every((r) => r.status !== 'failed');
    const ran = results.filter((r) => r.status !== 'skipped');
    say(
      formatTable(
        results.map((r) => ({
          function: r.function,
          status: r.status,
          calls: r.calls,
          rows: Object.values(r.rows).reduce((a, b) => a + b, 0),
          seconds: (r.durationMs / 1000).toFixed(1),
          note: r.note ?? '',
        })),
      ),
    );
    say();
    say(`${ok ? 'Demo finished' : 'Demo FAILED'}: ${results.filter((r) => r.status === 'ok').length} ok, ${results.filter((r) => r.status === 'failed').length} failed, ${results.filter((r) => r.status === 'skipped').length} skipped in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    if (ran.length) {
      say('Look at the warehouse:');
      for (const r of ran) {
        for (const {table, rows} of await warehouse.tables(r.schema)) {
          say(`  ./fivetran warehouse query "select * from ${r.schema}.${table} limit 20" --warehouse ${warehouseArg}   # ${plural(rows, 'row')}`);
        }
      }
    }
    return {ok, functions: results, warehouseFile, durationMs: Date.now() - startedAt};
  } finally {
    await stopAll();
    process.off('exit', removePostgresDir);
    if (options.handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

export interface DemoCommandOptions {
  only?: string[];
  cwd?: string;
  write?: (text: string) => void;
}

/** `./fivetran demo`: runDemo, failing (non-zero exit) when any function failed. */
export async function demo(options: DemoCommandOptions = {}): Promise<DemoResult> {
  let result: DemoResult;
  try {
    result = await runDemo({cwd: options.cwd, only: options.only, write: options.write, handleSignals: true});
  } catch (error) {
    if (error instanceof Error && 'exitCode' in error) throw error;
    throw new CliConfigError(`the demo could not start: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!result.ok) {
    const failed = result.functions.filter((fn) => fn.status === 'failed').map((fn) => fn.function);
    throw new CommandFailed(`demo failed for ${failed.join(', ')}`);
  }
  return result;
}
