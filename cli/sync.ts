// ./fivetran sync <function|connector>: runs one sync exactly as Fivetran would (emulator/sync-runner.ts)
// into the local DuckDB warehouse, in-process or against a URL, with progress on a terminal and a summary
// (or one JSON object with --json) at the end. Every failure ends with one line and a non-zero exit.
import {execFile} from 'node:child_process';
import {appendFileSync, existsSync, mkdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {promisify} from 'node:util';
import {deployFile, loadDeployConfig, memoryMb, resolveTarget, timeoutSeconds, type DeployFunction} from '../project/deploy-yaml.js';
import {loadConnector, projectRoot} from '../project/root.js';
import type {LogSink} from '../sdk/log.js';
import {redactText} from '../sdk/log.js';
import type {Connector} from '../sdk/connector.js';
import {secretValues} from '../sdk/secrets.js';
import {DEFAULT_WAREHOUSE_FILE, schemaNameFor, Warehouse} from '../emulator/warehouse.js';
import {defaultStateFile, StateFileError, readState} from '../emulator/state-store.js';
import {httpTransport, inProcessTransport, runSync, SyncFailed, type FunctionTransport, type SyncSummary} from '../emulator/sync-runner.js';
import {CliConfigError, CommandFailed, UsageError} from './errors.js';
import {formatTable, isInteractive, ProgressLine} from './output.js';

export interface SyncCommandOptions {
  target: string;
  /** JSON file of the connection's secrets */
  secrets: string;
  state?: string;
  warehouse?: string;
  url?: string;
  /** a token, or "gcloud" to run `gcloud auth print-identity-token` */
  idToken?: string;
  maxCalls?: number;
  json?: boolean;
  cwd?: string;
  /** progress line on stderr; default: when stderr is a terminal */
  progress?: boolean;
  /** where the summary goes; default stdout */
  write?: (text: string) => void;
}

/** Reads the secrets file: a JSON object of the connection's key/value pairs. */
export function readSecretsFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) {
    throw new CliConfigError(`secrets file ${file} not found; create a JSON object with the connection's secrets, e.g. {"host": "...", "password": "..."}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliConfigError(`secrets file ${file} is not valid JSON (${(error as Error).message}); it must be a JSON object of key/value pairs`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliConfigError(`secrets file ${file} must hold a JSON object of key/value pairs, not ${Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`}`);
  }
  return value as Record<string, unknown>;
}

async function resolveIdToken(idToken: string | undefined): Promise<string | undefined> {
  if (idToken !== 'gcloud') return idToken;
  try {
    const {stdout} = await promisify(execFile)('gcloud', ['auth', 'print-identity-token'], {timeout: 30_000});
    const token = stdout.trim();
    if (!token) throw new Error('it printed nothing');
    return token;
  } catch (error) {
    throw new CliConfigError(`gcloud auth print-identity-token failed (${(error as Error).message.split('\n')[0]}); run gcloud auth login, or pass --id-token <token>`);
  }
}

const formatBytes = (bytes: number) => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${bytes} B`);
const formatCount = (n: number) => n.toLocaleString('en-US');

/** Rows and deletes per table as a text table. */
export function tableSummary(summary: Pick<SyncSummary, 'rows' | 'deletes'>): string {
  const tables = [...new Set([...Object.keys(summary.rows), ...Object.keys(summary.deletes)])].sort();
  if (!tables.length) return '(no rows)';
  return formatTable(tables.map((table) => ({table, rows: formatCount(summary.rows[table] ?? 0), deletes: formatCount(summary.deletes[table] ?? 0)})));
}

/** Writes connector log lines to .fivetran/logs/<function>.log, and warnings to stderr when asked. */
function logSinkFor(file: string, onWarning?: (message: string) => void): LogSink {
  mkdirSync(path.dirname(file), {recursive: true});
  return (line, severity) => {
    appendFileSync(file, line + '\n');
    if (onWarning && (severity === 'WARNING' || severity === 'ERROR' || severity === 'CRITICAL')) {
      try {
        onWarning(String((JSON.parse(line) as {message?: unknown}).message ?? line));
      } catch {
        onWarning(line);
      }
    }
  };
}

/** Keys whose values are redacted when nothing declares which are secret (a function outside this repository). */
export const SECRET_LOOKING_KEY = /pass|pwd|secret|token|key|credential|auth|private|cert|session|cookie|signature|salt/i;

/** Every string inside a value (and the value as JSON when it is not a string), for redaction. */
function valuesToRedact(value: unknown, out: string[]): void {
  if (value === undefined || value === null || value === '') return;
  if (typeof value === 'string') {
    out.push(value);
    return;
  }
  out.push(JSON.stringify(value));
  if (typeof value === 'object') for (const item of Object.values(value)) valuesToRedact(item, out);
}

/**
 * The values of the secrets file to redact from messages: those of the connector's secret fields (its
 * `field.secret` declarations) and of keys it does not declare that look secret; for a function outside the
 * repository (no connector), of every key that looks secret. Hosts, ports, ids and names stay readable.
 */
export function secretsToRedact(secrets: Record<string, unknown>, connector?: Connector): string[] {
  const declared = connector ? new Set(Object.keys(connector.secrets.shape)) : new Set<string>();
  const values = connector ? secretValues(connector.secrets, secrets) : [];
  for (const [key, value] of Object.entries(secrets)) if (!declared.has(key) && SECRET_LOOKING_KEY.test(key)) valuesToRedact(value, values);
  return values;
}

const SCHEMA_NAME_RULE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * The function to sync: one of deploy.yaml or a connector folder; with --url, any other name is a function
 * outside this repository (in any language), synced into the schema of that name.
 */
function syncTarget(root: string, name: string, url: string | undefined): {functionName: string; connector?: string; entry?: DeployFunction} {
  try {
    return resolveTarget(root, name, 'sync');
  } catch (error) {
    // a function entry of deploy.yaml is no connector to sync, --url or not
    if (existsSync(deployFile(root)) && loadDeployConfig(root).some((fn) => fn.name === name && fn.function !== undefined)) throw error;
    if (!url || !(error instanceof CliConfigError)) throw error;
  }
  if (!SCHEMA_NAME_RULE.test(name)) {
    throw new UsageError(`"${name}" is not a function of this repository, and with --url it names the destination schema: use letters, digits and _, starting with a letter or _ (at most 63 characters)`);
  }
  return {functionName: name};
}

export async function syncFunction(options: SyncCommandOptions): Promise<SyncSummary> {
  const cwd = options.cwd ?? process.cwd();
  const root = projectRoot(cwd);
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  if (options.maxCalls !== undefined && (!Number.isInteger(options.maxCalls) || options.maxCalls < 1)) {
    throw new UsageError(`--max-calls ${options.maxCalls} must be a whole number of at least 1`);
  }
  const target = syncTarget(root, options.target, options.url);
  const secrets = readSecretsFile(path.resolve(cwd, options.secrets));
  const stateFile = options.state ? path.resolve(cwd, options.state) : defaultStateFile(root, target.functionName);
  const warehouseFile = options.warehouse ? path.resolve(cwd, options.warehouse) : path.join(root, DEFAULT_WAREHOUSE_FILE);
  const schema = schemaNameFor(target.functionName);
  const logFile = path.join(root, '.fivetran', 'logs', `${target.functionName}.log`);
  // a corrupt state file fails before anything starts
  try {
    readState(stateFile);
  } catch (error) {
    if (error instanceof StateFileError) throw new CliConfigError(error.message);
    throw error;
  }
  const warnings: string[] = [];
  let transport: FunctionTransport;
  let connector: Connector | undefined;
  if (options.url) {
    let url: URL;
    try {
      url = new URL(options.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new UsageError(`--url ${options.url} must be an http:// or https:// URL`);
    }
    const idToken = await resolveIdToken(options.idToken);
    transport = httpTransport(url.toString(), {idToken, timeoutMs: timeoutSeconds(target.entry?.timeout) * 1000 + 5000});
    // a function of this repository served or deployed: its own declarations say which values are secret
    if (target.connector) connector = await loadConnector(root, target.connector).catch(() => undefined);
  } else {
    connector = await loadConnector(root, target.connector!);
    transport = inProcessTransport(connector, {
      limits: {
        ...(target.entry?.response_cap_bytes ? {responseCapBytes: target.entry.response_cap_bytes} : {}),
        timeoutSeconds: timeoutSeconds(target.entry?.timeout),
        memoryMb: memoryMb(target.entry?.memory),
      },
      sink: logSinkFor(logFile, (message) => warnings.push(message)),
    });
  }

  const redactions = secretsToRedact(secrets, connector);
  const showProgress = options.progress ?? isInteractive();
  const progress = new ProgressLine(showProgress);
  // between answers, a long call still shows that time passes
  let done = {rows: 0, bytes: 0};
  let ticker: NodeJS.Timeout | undefined;
  /** the last call sent */
  let latestCall = 0;
  const startedAt = Date.now();
  const stopTicker = () => clearInterval(ticker);
  let warehouse: Warehouse;
  try {
    warehouse = await Warehouse.open(warehouseFile);
  } catch (error) {
    throw new CliConfigError((error as Error).message);
  }
  let summary: SyncSummary;
  try {
    summary = await runSync({
      functionName: target.functionName,
      transport,
      secrets,
      stateFile,
      warehouse,
      schema,
      maxCalls: options.maxCalls,
      onCallStart: (call) => {
        if (!showProgress) return;
        latestCall = call;
        stopTicker();
        const callStarted = Date.now();
        const show = () =>
          progress.update(`${target.functionName}: call ${call} (waiting ${((Date.now() - callStarted) / 1000).toFixed(0)} s) · ${formatCount(done.rows)} rows · ${formatBytes(done.bytes)} · ${formatCount(Math.round((done.rows / Math.max(1, Date.now() - startedAt)) * 1000))} rows/s`);
        show();
        ticker = setInterval(show, 1000);
        ticker.unref();
      },
      onCall: ({call, rows, bytes, elapsedMs}) => {
        done = {rows, bytes};
        // the next call is usually in flight already (sent while this one was applied): its ticker goes on
        if (call < latestCall) return;
        stopTicker();
        const rate = elapsedMs > 0 ? Math.round((rows / elapsedMs) * 1000) : 0;
        progress.update(`${target.functionName}: call ${call} · ${formatCount(rows)} rows · ${formatBytes(bytes)} · ${formatCount(rate)} rows/s`);
      },
    });
  } catch (error) {
    stopTicker();
    progress.done();
    if (error instanceof SyncFailed) {
      const kept = error.summary.calls > 0 ? `what call ${error.summary.calls} committed` : 'what they held before the sync';
      throw new CommandFailed(redactText(`sync of ${target.functionName} failed: ${error.message}; the state file and the warehouse keep ${kept}`, redactions));
    }
    if (error instanceof StateFileError) throw new CliConfigError(error.message);
    throw error;
  } finally {
    stopTicker();
    await warehouse.close();
  }
  progress.done();
  summary.warnings.unshift(...warnings.map((w) => `connector: ${w}`));

  if (options.json) {
    write(JSON.stringify({...summary, warehouse: warehouseFile, stateFile}, null, 2) + '\n');
    return summary;
  }
  const relative = (file: string) => path.relative(cwd, file) || file;
  const total = Object.values(summary.rows).reduce((a, b) => a + b, 0);
  const lines = [
    `synced ${target.functionName} into ${relative(warehouseFile)} (schema ${schema}): ${summary.calls} call${summary.calls === 1 ? '' : 's'}, ${formatCount(total)} rows, ${formatBytes(summary.bytes)} in ${(summary.durationMs / 1000).toFixed(1)} s`,
    tableSummary(summary),
  ];
  if (summary.endedBy === 'max_calls') lines.push(`stopped after ${summary.calls} calls (--max-calls); the next sync continues from the committed state`);
  for (const warning of summary.warnings) lines.push(`warning: ${warning}`);
  lines.push(`state: ${relative(stateFile)}`);
  const firstTable = Object.keys(summary.rows).sort()[0];
  if (firstTable) lines.push(`look at it: ./fivetran warehouse query "select * from ${schema}.${firstTable} limit 10"${options.warehouse ? ` --warehouse ${options.warehouse}` : ''}`);
  write(lines.join('\n') + '\n');
  return summary;
}

