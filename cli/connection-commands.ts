// The commands that act on a connected function, by the connection id `connect` recorded in
// fivetran.lock.yaml: `resync` (a historical resync of the connection or of tables), `state get|set` (the
// function state Fivetran keeps, paused around a write), `status` (the fleet: deployed commit, connection
// health, code changed since the deploy), and `reset` (the local warehouse schema and state file).
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {createInterface} from 'node:readline/promises';
import {assessHealth, type Health} from '../connectors/monitoring/public.js';
import {connectorEntries, connectorEntry, loadDeployConfig, type ConnectorFunction} from '../project/deploy-yaml.js';
import {projectRoot} from '../project/root.js';
import {FivetranApiError, type FivetranApi} from '../sdk/fivetran-api.js';
import {defaultStateFile, removeState} from '../emulator/state-store.js';
import {DEFAULT_WAREHOUSE_FILE, quoteIdent, schemaNameFor, Warehouse} from '../emulator/warehouse.js';
import {functionChanged} from './ci-config.js';
import {CliConfigError, CommandFailed, UsageError} from './errors.js';
import {getConnectionState, getFunctionConnection, resyncConnection, resyncTable, setConnectionState, updateFunctionConnection} from './fivetran-connections.js';
import {readLock, recordedConnectionId} from './lock.js';
import {apiFromEnv} from './monitor/common.js';
import {formatTable, printJson} from './output.js';

interface CommonOptions {
  cwd?: string;
  /** FIVETRAN_API_KEY / FIVETRAN_API_SECRET / FIVETRAN_API_URL; default process.env */
  env?: NodeJS.ProcessEnv;
  retries?: number;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

function io(options: CommonOptions) {
  return {
    out: options.stdout ?? ((text: string) => void process.stdout.write(text)),
    err: options.stderr ?? ((text: string) => void process.stderr.write(text)),
  };
}

/** A connector entry of deploy.yaml: the connection commands act on Fivetran connections, which only connectors have. */
function deployFunction(root: string, name: string, command: string): ConnectorFunction {
  const functions = loadDeployConfig(root);
  const fn = functions.find((f) => f.name === name);
  if (!fn) throw new CliConfigError(`unknown function "${name}"; deploy.yaml defines: ${functions.map((f) => f.name).join(', ') || '(none)'}`);
  return connectorEntry(fn, command);
}

/** Runs `body` with the API client of the environment (its errors name the CLI's variables). */
function withApi<T>(options: CommonOptions, body: (api: FivetranApi) => Promise<T>): Promise<T> {
  return body(apiFromEnv(options.env ?? process.env, options.retries));
}

// ---- resync ----

export interface ResyncOptions extends CommonOptions {
  function: string;
  /** tables of the connection's schema; none: the whole connection */
  tables?: string[];
}

export async function resync(options: ResyncOptions): Promise<{connection_id: string; scope: Record<string, string[]> | null}> {
  const root = projectRoot(options.cwd);
  const {out} = io(options);
  deployFunction(root, options.function, 'connection resync');
  const id = recordedConnectionId(root, options.function);
  const schema = readLock(root)[options.function]?.schema ?? schemaNameFor(options.function);
  const tables = [...new Set(options.tables ?? [])];
  const bad = tables.find((t) => !t.trim());
  if (bad !== undefined) throw new UsageError('--table needs a table name');
  return withApi(options, async (api) => {
    try {
      if (tables.length === 0) await resyncConnection(api, id);
      else if (tables.length === 1) await resyncTable(api, id, schema, tables[0]!);
      else await resyncConnection(api, id, {[schema]: tables});
    } catch (error) {
      if (error instanceof FivetranApiError && error.httpStatus === 409) throw new CommandFailed(`cannot resync ${options.function} (connection ${id}) now: ${error.message}`);
      throw error;
    }
    out(tables.length ? `resync of ${tables.map((t) => `${schema}.${t}`).join(', ')} triggered for ${options.function} (connection ${id})\n` : `historical resync of ${options.function} triggered (connection ${id})\n`);
    return {connection_id: id, scope: tables.length ? {[schema]: tables} : null};
  });
}

// ---- state get|set ----

export interface StateOptions extends CommonOptions {
  function: string;
  /** get: write the state there instead of stdout; set: read it from there (required) */
  file?: string;
}

export async function stateGet(options: StateOptions): Promise<Record<string, unknown>> {
  const root = projectRoot(options.cwd);
  const {out, err} = io(options);
  deployFunction(root, options.function, 'state get');
  const id = recordedConnectionId(root, options.function);
  const state = await withApi(options, (api) => getConnectionState(api, id));
  const text = JSON.stringify(state, null, 2) + '\n';
  if (options.file) {
    const file = path.resolve(options.cwd ?? process.cwd(), options.file);
    writeFileSync(file, text);
    err(`wrote the state of ${options.function} (connection ${id}) to ${options.file}\n`);
  } else out(text);
  return state;
}

function readStateFile(cwd: string, file: string): Record<string, unknown> {
  const full = path.resolve(cwd, file);
  if (!existsSync(full)) throw new CliConfigError(`state file ${file} not found`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(full, 'utf8'));
  } catch (error) {
    throw new CliConfigError(`state file ${file} is not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CliConfigError(`state file ${file} must hold a JSON object (the function's state)`);
  return value as Record<string, unknown>;
}

/** Writes the state: refuses while a sync runs, pauses the connection, writes, and restores the pause. */
export async function stateSet(options: StateOptions): Promise<void> {
  const root = projectRoot(options.cwd);
  const {out} = io(options);
  if (!options.file) throw new UsageError('state set needs --file FILE with the state as a JSON object (./fivetran state get <function> --file FILE gives the current one)');
  deployFunction(root, options.function, 'state set');
  const id = recordedConnectionId(root, options.function);
  const state = readStateFile(options.cwd ?? process.cwd(), options.file);
  const syncing = `${options.function} (connection ${id}) is syncing; wait for the sync to finish (./fivetran monitor wait ${id}) and run state set again`;
  await withApi(options, async (api) => {
    const connection = await getFunctionConnection(api, id);
    if (connection.status?.sync_state === 'syncing') throw new CommandFailed(syncing);
    const wasPaused = connection.paused === true;
    if (!wasPaused) await updateFunctionConnection(api, id, {paused: true});
    try {
      await setConnectionState(api, id, state);
    } catch (error) {
      if (error instanceof FivetranApiError && error.httpStatus === 409) throw new CommandFailed(`${syncing} (${error.message})`);
      throw error;
    } finally {
      if (!wasPaused) await updateFunctionConnection(api, id, {paused: false});
    }
    out(`state of ${options.function} (connection ${id}) updated${wasPaused ? '; it stays paused' : '; paused for the write and unpaused again'}\n`);
  });
}

// ---- status ----

export interface StatusOptions extends CommonOptions {
  json?: boolean;
  /** "now" for the health rules (tests) */
  now?: number;
}

export interface FunctionStatus {
  function: string;
  connection_id: string | null;
  deployed_commit: string | null;
  deployed_at: string | null;
  /** a function entry (functions/, no Fivetran connector) has no connection to be healthy: `no connection (function)` */
  health: Health | 'not connected' | 'missing' | 'no connection (function)';
  /** up to date | changed since deploy | not deployed | unknown */
  code: string;
  /** why `code` says what it says */
  code_reason?: string;
}

export async function fleetStatus(options: StatusOptions = {}): Promise<FunctionStatus[]> {
  const root = projectRoot(options.cwd);
  const {out} = io(options);
  const functions = loadDeployConfig(root);
  const lock = readLock(root);
  const connected = functions.filter((fn) => lock[fn.name]?.connection_id);
  const now = options.now ?? Date.now();
  const health = new Map<string, FunctionStatus['health']>();
  if (connected.length) {
    await withApi(options, async (api) => {
      // one list call per group rather than one call per connection
      const groups = [...new Set(connected.map((fn) => lock[fn.name]!.group_id).filter((g): g is string => Boolean(g)))];
      const found = new Map((await Promise.all(groups.map((g) => api.listConnections(g)))).flat().map((c) => [c.id, c]));
      for (const fn of connected) {
        const id = lock[fn.name]!.connection_id!;
        let connection = found.get(id);
        if (!connection) {
          try {
            connection = await getFunctionConnection(api, id);
          } catch (error) {
            if (!(error instanceof FivetranApiError && error.httpStatus === 404)) throw error;
          }
        }
        health.set(fn.name, connection ? assessHealth(connection, now).health : 'missing');
      }
    });
  }
  const rows: FunctionStatus[] = [];
  for (const fn of functions) {
    const entry = lock[fn.name];
    let code = 'not deployed';
    let reason: string | undefined;
    if (entry?.deployed_commit) {
      try {
        const changed = await functionChanged({functionName: fn.name, base: entry.deployed_commit, cwd: root});
        code = changed.deploy ? 'changed since deploy' : 'up to date';
        reason = changed.reason;
      } catch (error) {
        code = 'unknown';
        reason = (error as Error).message;
      }
    }
    rows.push({
      function: fn.name,
      connection_id: entry?.connection_id ?? null,
      deployed_commit: entry?.deployed_commit ?? null,
      deployed_at: entry?.deployed_at ?? null,
      health: health.get(fn.name) ?? (fn.function !== undefined ? 'no connection (function)' : 'not connected'),
      code,
      ...(reason ? {code_reason: reason} : {}),
    });
  }
  if (options.json) printJson(rows);
  else {
    const table = rows.map((r) => ({
      function: r.function,
      connection: r.connection_id ?? '',
      commit: r.deployed_commit?.slice(0, 12) ?? '',
      deployed_at: r.deployed_at ?? '',
      health: r.health,
      code: r.code,
    }));
    out(`${formatTable(table)}\n`);
  }
  return rows;
}

// ---- reset ----

export interface ResetOptions {
  /** one function; none: every function of deploy.yaml */
  function?: string;
  yes?: boolean;
  warehouse?: string;
  cwd?: string;
  /** asks on a terminal (default: when stdin and stderr are terminals) */
  interactive?: boolean;
  /** the answer to the question (tests); default: read from the terminal */
  ask?: (question: string) => Promise<string>;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export async function askTerminal(question: string): Promise<string> {
  const rl = createInterface({input: process.stdin, output: process.stderr});
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/** Wipes the local warehouse schema and the state file of one function (or all), asking first on a terminal. */
export async function reset(options: ResetOptions = {}): Promise<{function: string; schema: string; stateFile: string}[]> {
  const root = projectRoot(options.cwd);
  const {out} = io({stdout: options.stdout, stderr: options.stderr});
  const functions = options.function ? [deployFunction(root, options.function, 'reset')] : connectorEntries(loadDeployConfig(root));
  const warehouseFile = options.warehouse ? path.resolve(options.cwd ?? process.cwd(), options.warehouse) : path.join(root, DEFAULT_WAREHOUSE_FILE);
  const targets = functions.map((fn) => ({function: fn.name, schema: schemaNameFor(fn.name), stateFile: defaultStateFile(root, fn.name)}));
  const what = `${targets.length === 1 ? `schema ${targets[0]!.schema}` : `schemas ${targets.map((t) => t.schema).join(', ')}`} of ${path.relative(root, warehouseFile)} and ${targets.length === 1 ? 'its state file' : 'their state files'}`;
  if (!options.yes) {
    const interactive = options.interactive ?? (Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY));
    if (!interactive) throw new UsageError(`reset deletes the ${what}; pass --yes to do it without a terminal`);
    const answer = await (options.ask ?? askTerminal)(`delete the ${what}? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CommandFailed('reset canceled; nothing deleted');
  }
  if (existsSync(warehouseFile)) {
    let warehouse: Warehouse;
    try {
      warehouse = await Warehouse.open(warehouseFile);
    } catch (error) {
      throw new CliConfigError((error as Error).message);
    }
    try {
      for (const t of targets) await warehouse.query(`DROP SCHEMA IF EXISTS ${quoteIdent(t.schema)} CASCADE`);
    } finally {
      await warehouse.close();
    }
  }
  for (const t of targets) removeState(t.stateFile);
  out(`reset ${targets.map((t) => t.function).join(', ')}: dropped ${targets.map((t) => t.schema).join(', ')} and deleted the state file${targets.length > 1 ? 's' : ''}; the next sync starts from the beginning\n`);
  return targets;
}
