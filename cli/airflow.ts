// ./fivetran airflow dag|dags: Airflow DAG files that trigger a function's Fivetran connection on a schedule
// (FivetranOperator from airflow-provider-fivetran-async, optionally followed by a FivetranSensor), rendered
// from templates/airflow/dag.py.hbs with values from deploy.yaml's `airflow:` block or the command line. The
// connection id, when neither gives it, is the one `./fivetran connect` recorded in fivetran.lock.yaml.
import {createHash} from 'node:crypto';
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {connectorEntry, loadDeployConfig, type ConnectorFunction, type DeployFunction} from '../project/deploy-yaml.js';
import {loadConnector, projectRoot} from '../project/root.js';
import {CliConfigError} from './errors.js';
import {readLock, type Lock} from './lock.js';
import {compileTemplate, TEMPLATES_DIR} from './templates.js';

export const AIRFLOW_DEFAULTS = {owner: 'airflow', retries: 2, sensor: false} as const;

const TEMPLATE = path.join(TEMPLATES_DIR, 'airflow', 'dag.py.hbs');

const SCHEDULE_PRESETS = ['@once', '@continuous', '@hourly', '@daily', '@weekly', '@monthly', '@quarterly', '@yearly', '@annually'];
const CRON_FIELD = /^[A-Za-z0-9*/,?#LW-]+$/;

export interface DagSpec {
  functionName: string;
  connector: string;
  environment: string;
  dagId: string;
  connectorId: string;
  schedule: string;
  owner: string;
  retries: number;
  sensor: boolean;
  /** with airflow.resync_on_schema_change: the fingerprint of the tables the function declares */
  schemaFingerprint?: string;
}

export interface RenderedDag {
  dagId: string;
  functionName: string;
  /** the Python source */
  source: string;
  /** where it was written, if it was */
  file?: string;
}

/** A Python literal for a JSON-like value. JSON string escapes (\" \\ \n \uXXXX) are valid Python escapes. */
export function pythonLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${value} has no Python literal`);
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonLiteral).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>).map(([key, item]) => `${JSON.stringify(key)}: ${pythonLiteral(item)}`).join(', ')}}`;
  }
  throw new Error(`a ${typeof value} has no Python literal`);
}

/** Throws unless `schedule` is a 5-field cron expression or an Airflow preset. */
export function checkSchedule(schedule: string, where: string): string {
  const value = schedule.trim();
  const fields = value.split(/\s+/);
  if (SCHEDULE_PRESETS.includes(value) || (fields.length === 5 && fields.every((f) => CRON_FIELD.test(f)))) return value;
  throw new CliConfigError(`${where} "${schedule}" must be a cron expression like "0 6 * * *" or one of ${SCHEDULE_PRESETS.join(', ')}`);
}

/** `customer-freshness` → `fivetran_customer_freshness` (a DAG id and a Python module name). */
export function dagIdOf(functionName: string): string {
  return `fivetran_${functionName.toLowerCase().replace(/-/g, '_')}`;
}

/** The DAG settings of one function: deploy.yaml's airflow block (else the lock's connection), overridden by the command line. */
export function dagSpec(fn: ConnectorFunction, overrides: {schedule?: string; connectorId?: string} = {}, lock: Lock = {}): DagSpec {
  const connectorId = (overrides.connectorId ?? fn.airflow?.connector_id ?? lock[fn.name]?.connection_id)?.trim();
  if (!connectorId) {
    throw new CliConfigError(
      `${fn.name} has no Fivetran connection: run ./fivetran connect ${fn.name} (it records the id in fivetran.lock.yaml), pass --connector-id ID, or add airflow.connector_id to ${fn.name} in deploy.yaml`,
    );
  }
  const schedule = overrides.schedule ?? fn.airflow?.schedule;
  if (!schedule) {
    throw new CliConfigError(`${fn.name} has no airflow.schedule in deploy.yaml; pass --schedule CRON (e.g. "0 6 * * *" or @daily) or add it to ${fn.name}.airflow`);
  }
  return {
    functionName: fn.name,
    connector: fn.connector,
    environment: fn.environment,
    dagId: dagIdOf(fn.name),
    connectorId,
    schedule: checkSchedule(schedule, overrides.schedule !== undefined ? '--schedule' : `${fn.name}.airflow.schedule`),
    owner: fn.airflow?.owner ?? AIRFLOW_DEFAULTS.owner,
    retries: fn.airflow?.retries ?? AIRFLOW_DEFAULTS.retries,
    sensor: fn.airflow?.sensor ?? AIRFLOW_DEFAULTS.sensor,
  };
}

/**
 * The fingerprint of the tables a connector declares (names, primary keys, columns): it changes when a deploy
 * changes the function's schema, which a DAG with airflow.resync_on_schema_change answers with one resync.
 */
export async function schemaFingerprint(root: string, connectorName: string): Promise<string> {
  const connector = await loadConnector(root, connectorName);
  const canonical = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(canonical) : value && typeof value === 'object' ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])])) : value;
  return createHash('sha256').update(JSON.stringify(canonical(connector.tables))).digest('hex').slice(0, 16);
}

/** The spec with the schema fingerprint when the function's airflow block asks for resyncs. */
async function withFingerprint(root: string, fn: ConnectorFunction, spec: DagSpec): Promise<DagSpec> {
  return fn.airflow?.resync_on_schema_change ? {...spec, schemaFingerprint: await schemaFingerprint(root, fn.connector)} : spec;
}

let compiled: HandlebarsTemplateDelegate | undefined;

/** The Python source of one DAG. */
export function renderDag(spec: DagSpec): string {
  if (!compiled) {
    compiled = compileTemplate(readFileSync(TEMPLATE, 'utf8'), {py: (value: unknown) => pythonLiteral(value)});
  }
  return compiled({
    ...spec,
    resyncOnSchemaChange: spec.schemaFingerprint !== undefined,
    schemaVariable: `fivetran_schema_${spec.dagId}`,
    description: `Fivetran sync of the Cloud Function ${spec.functionName} (connector ${spec.connector})`,
    tags: ['fivetran', spec.connector, spec.environment],
    // The operator's return value is the previous completion time; empty (never synced) makes the sensor
    // take the latest completion at its first check instead of failing to parse "None".
    completedAfterTime: "{{ task_instance.xcom_pull(task_ids='trigger_sync', key='return_value') or '' }}",
  });
}

function writeDag(out: string, spec: DagSpec): RenderedDag {
  mkdirSync(out, {recursive: true});
  const file = path.join(out, `${spec.dagId}.py`);
  const source = renderDag(spec);
  writeFileSync(file, source);
  return {dagId: spec.dagId, functionName: spec.functionName, source, file};
}

function findFunction(functions: DeployFunction[], name: string): ConnectorFunction {
  const fn = functions.find((f) => f.name === name);
  if (!fn) throw new CliConfigError(`unknown function "${name}"; deploy.yaml defines: ${functions.map((f) => f.name).join(', ') || '(none)'}`);
  return connectorEntry(fn, 'airflow dag');
}

export interface AirflowDagOptions {
  function: string;
  schedule?: string;
  connectorId?: string;
  /** folder to write <dag_id>.py into; without it the DAG goes to stdout */
  out?: string;
  cwd?: string;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

/** ./fivetran airflow dag <function>: one DAG, to stdout or into --out. */
export async function airflowDag(options: AirflowDagOptions): Promise<RenderedDag> {
  const root = projectRoot(options.cwd);
  const stdout = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const fn = findFunction(loadDeployConfig(root), options.function);
  const spec = await withFingerprint(root, fn, dagSpec(fn, {schedule: options.schedule, connectorId: options.connectorId}, readLock(root)));
  if (!options.out) {
    const source = renderDag(spec);
    stdout(source);
    return {dagId: spec.dagId, functionName: spec.functionName, source};
  }
  const dag = writeDag(path.resolve(options.cwd ?? process.cwd(), options.out), spec);
  stderr(`wrote ${dag.file} (DAG ${dag.dagId}, schedule ${spec.schedule})\n`);
  return dag;
}

export interface AirflowDagsOptions {
  out: string;
  cwd?: string;
  stderr?: (text: string) => void;
}

/** ./fivetran airflow dags --out DIR: the DAG of every function with an `airflow:` block. */
export async function airflowDags(options: AirflowDagsOptions): Promise<RenderedDag[]> {
  const root = projectRoot(options.cwd);
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const functions = loadDeployConfig(root).filter((fn): fn is ConnectorFunction => fn.airflow !== undefined && fn.connector !== undefined);
  if (functions.length === 0) {
    throw new CliConfigError('no function in deploy.yaml has an airflow: block; add airflow: {schedule: "0 6 * * *"} to the functions Airflow should schedule (the connection id comes from fivetran.lock.yaml after ./fivetran connect, or airflow.connector_id)');
  }
  const lock = readLock(root);
  const specs = await Promise.all(functions.map((fn) => withFingerprint(root, fn, dagSpec(fn, {}, lock))));
  const owners = new Map<string, string>();
  for (const spec of specs) {
    const other = owners.get(spec.dagId);
    if (other) throw new CliConfigError(`functions ${other} and ${spec.functionName} would both be DAG ${spec.dagId}; rename one in deploy.yaml`);
    owners.set(spec.dagId, spec.functionName);
  }
  const out = path.resolve(options.cwd ?? process.cwd(), options.out);
  const dags = specs.map((spec) => writeDag(out, spec));
  for (const [i, dag] of dags.entries()) stderr(`wrote ${dag.file} (DAG ${dag.dagId}, schedule ${specs[i]!.schedule})\n`);
  return dags;
}
