// deploy.yaml: one entry per Cloud Function, its schema, and its parsing (validated with messages that name the
// function and the key), with the deploy defaults and a function-or-connector lookup.
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {parseDocument} from 'yaml';
import {z} from 'zod';
import {MALLOC_ENVIRONMENT} from '../sdk/budget.js';
import {ProjectConfigError} from './errors.js';
import {listConnectorNames, listFunctionNames} from './root.js';
import {DEFAULT_RUNTIME, runtimeProblem} from './runtimes.js';

export const FUNCTION_NAME_RULE = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
export const FUNCTION_NAME_HELP = 'letters, digits, - and _, starting with a letter, at most 63 characters';

/** A zod error that says "is required" for a missing key and `message` for a wrong value. */
const requiredOr = (message: string, required = message) => (issue: {input?: unknown}) => (issue.input === undefined ? `is required: ${required}` : message);

const AirflowSchema = z.strictObject({
  connector_id: z.string({error: requiredOr('must be the Fivetran connection id (a string)', 'the Fivetran connection id')}).min(1, {error: 'must be the Fivetran connection id'}).optional(),
  schedule: z
    .string({error: requiredOr('must be a cron expression or an Airflow preset like @daily', 'a cron expression or an Airflow preset like @daily')})
    .min(1, {error: 'must be a cron expression or an Airflow preset like @daily'}),
  owner: z.string({error: 'must be a string'}).optional(),
  retries: z.number({error: 'must be a whole number'}).int({error: 'must be a whole number'}).min(0, {error: 'must be 0 or more'}).optional(),
  sensor: z.boolean({error: 'must be true or false'}).optional(),
  /** resync the connection once, before the sync, after a deploy changed the tables the function declares */
  resync_on_schema_change: z.boolean({error: 'must be true or false'}).optional(),
});

/**
 * Environment variable names whose values are secrets: a function entry names the Secret Manager secret they
 * come from (`{secret: name}`), never the value, so nothing secret is in deploy.yaml or the gcloud command.
 */
const SECRET_ENV_NAME = /(SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL|WEBHOOK_URL)$/;
const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
/** Set by the deploy itself (cli/deploy.ts), or reserved by Cloud Functions. */
const RESERVED_ENV = new Set([...Object.keys(MALLOC_ENVIRONMENT), 'FUNCTION_MEMORY_MB', 'FUNCTION_TIMEOUT_SECONDS', 'FIVETRAN_RESPONSE_CAP_BYTES', 'PORT', 'K_SERVICE', 'K_REVISION', 'K_CONFIGURATION', 'FUNCTION_TARGET', 'FUNCTION_SIGNATURE_TYPE']);
const EnvValueSchema = z.union([z.string(), z.strictObject({secret: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/)})], {
  error: 'must be a value (text) or {secret: <Secret Manager secret name>}',
});

const FunctionEntrySchema = z.strictObject({
  // exactly one of connector and function (checked in entryProblems, which names both)
  connector: z.string({error: 'must be the name of a folder under connectors/'}).optional(),
  /** a Cloud Function that is not a Fivetran connector: a folder under functions/ (fivetran-webhooks) */
  function: z.string({error: 'must be the name of a folder under functions/'}).optional(),
  environment: z
    .string({error: requiredOr('must be a name like dev or prod', 'dev, prod, ... (the CircleCI context fivetran-<environment>)')})
    .regex(/^[a-z][a-z0-9-]*$/, {error: 'must be lowercase letters, digits and -, starting with a letter (like dev or prod)'}),
  region: z.string().regex(/^[a-z]+-[a-z]+\d+$/, {error: 'must be a Cloud Functions region like us-central1'}).optional(),
  memory: z
    .union([z.number().int().positive(), z.string().regex(/^\d+(Mi|Gi|MB|GB|M|G)?$/, {error: 'must be like 256Mi, 1Gi or 512MB (a bare number is MB)'})], {
      error: 'must be like 256Mi, 1Gi or 512MB (a bare number is MB)',
    })
    .optional(),
  timeout: z
    .union([z.number().int().positive(), z.string().regex(/^\d+s?$/, {error: 'must be seconds like 540s'})], {error: 'must be seconds like 540s'})
    .refine((value) => !(typeof value === 'number' || typeof value === 'string') || !(timeoutSeconds(value) > 3600), {error: 'must be at most 3600s (the Cloud Functions limit for HTTP functions)'})
    .optional(),
  // which runtimes are deployable depends on the date (project/runtimes.ts): checked in parseDeployConfig
  runtime: z.string({error: 'must be a Cloud Functions runtime like nodejs24'}).optional(),
  service_account: z.string().regex(/^[^@\s]+@[^@\s]+$/, {error: 'must be a service account email'}).optional(),
  max_instances: z.number({error: 'must be a positive whole number'}).int({error: 'must be a positive whole number'}).positive({error: 'must be a positive whole number'}).optional(),
  response_cap_bytes: z
    .number({error: 'must be a positive whole number of bytes'})
    .int({error: 'must be a positive whole number of bytes'})
    .positive({error: 'must be a positive whole number of bytes'})
    .optional(),
  airflow: AirflowSchema.optional(),
  /** a function entry's environment: NAME: value, or NAME: {secret: name} from Secret Manager */
  env: z.record(z.string(), EnvValueSchema, {error: 'must be a mapping of variable names to values or {secret: name}'}).optional(),
});

type EntryFields = Omit<z.infer<typeof FunctionEntrySchema>, 'connector' | 'function'>;
/** An entry that deploys a connector (connectors/<connector>/), which Fivetran calls. */
export interface ConnectorFunction extends EntryFields {
  name: string;
  connector: string;
  function?: undefined;
}
/** An entry that deploys a function of functions/<function>/, which is no Fivetran connector. */
export interface PlainFunction extends EntryFields {
  name: string;
  function: string;
  connector?: undefined;
}
export type DeployFunction = ConnectorFunction | PlainFunction;

/** What a deploy.yaml entry runs, for messages: `connector freshness` or `function fivetran-webhooks`. */
export function sourceLabel(fn: DeployFunction): string {
  return fn.connector !== undefined ? `connector ${fn.connector}` : `function ${fn.function}`;
}

/**
 * The entry as a connector's, for the commands that only make sense for one (sync, connect, airflow, the
 * connection commands); a function entry is refused in one line saying so.
 */
export function connectorEntry(fn: DeployFunction, command: string): ConnectorFunction {
  if (fn.connector !== undefined) return fn;
  throw new ProjectConfigError(`${fn.name} deploys functions/${fn.function}, which is not a Fivetran connector; ${command} works on connector entries of deploy.yaml only`);
}

/** The connector entries of deploy.yaml, for commands that go over every connector. */
export function connectorEntries(functions: readonly DeployFunction[]): ConnectorFunction[] {
  return functions.filter((fn): fn is ConnectorFunction => fn.connector !== undefined);
}

export const DEPLOY_DEFAULTS = {region: 'us-central1', memory: '256Mi', timeout: '540s', runtime: DEFAULT_RUNTIME} as const;

/** Memory in MB from `256Mi`, `1Gi`, `512MB` or a number of MB. */
export function memoryMb(memory: string | number | undefined): number {
  const value = memory ?? DEPLOY_DEFAULTS.memory;
  if (typeof value === 'number') return value;
  const match = /^(\d+)(Mi|Gi|MB|GB|M|G)?$/.exec(value);
  if (!match) throw new ProjectConfigError(`memory "${value}" must be like 256Mi, 1Gi or 512MB`);
  const n = Number(match[1]);
  return match[2] && match[2].startsWith('G') ? n * 1024 : n;
}

/** Timeout in seconds from `540s` or a number. */
export function timeoutSeconds(timeout: string | number | undefined): number {
  const value = timeout ?? DEPLOY_DEFAULTS.timeout;
  return typeof value === 'number' ? value : Number(value.replace(/s$/, ''));
}

export function deployFile(root: string): string {
  return path.join(root, 'deploy.yaml');
}

export interface DeployConfigOptions {
  /** the date runtimes are checked against (decommissioned ones are refused); default now */
  now?: Date;
  /** the folders under functions/ (entries with `function:`); default none */
  functions?: readonly string[];
}

/** Reads and validates deploy.yaml; functions sorted by name. Throws ProjectConfigError naming every problem. */
export function loadDeployConfig(root: string, file = deployFile(root), options: DeployConfigOptions = {}): DeployFunction[] {
  if (!existsSync(file)) throw new ProjectConfigError(`${path.relative(root, file) || file} not found; create it with one entry per function, e.g. "my-function: {connector: freshness, environment: dev}"`);
  return parseDeployConfig(readFileSync(file, 'utf8'), listConnectorNames(root), path.relative(root, file) || 'deploy.yaml', {functions: listFunctionNames(root), ...options});
}

/** One phrase per problem of one function's entry: its keys, its values, its connector or function and its runtime. */
function entryProblems(name: string, entry: Record<string, unknown>, connectors: readonly string[], functions: readonly string[], now: Date): string[] {
  const problems: string[] = [];
  const result = FunctionEntrySchema.safeParse(entry);
  for (const issue of result.error?.issues ?? []) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = Object.keys(FunctionEntrySchema.shape).join(', ');
      const where = issue.path.length ? `${name}.${issue.path.join('.')}` : name;
      problems.push(`${where} has unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (allowed: ${issue.path.length ? Object.keys(AirflowSchema.shape).join(', ') : allowed})`);
    } else {
      const key = issue.path.join('.');
      const message = issue.message.replace(/^Invalid input:?\s*/i, '').replace(/,?\s*received .*$/i, '');
      problems.push(`${name}.${key} ${message.startsWith('is ') || message.startsWith('must') ? message : `must be ${message.replace(/^expected /, '')}`}`);
    }
  }
  // checked whatever else is wrong with the entry, so that one run names every problem
  if (entry.connector === undefined && entry.function === undefined) {
    problems.push(`${name} needs connector (a folder under connectors/) or function (a folder under functions/)`);
  } else if (entry.connector !== undefined && entry.function !== undefined) {
    problems.push(`${name} has both connector and function; an entry deploys one: keep connector for a Fivetran connector, function for a folder under functions/`);
  }
  if (typeof entry.connector === 'string' && !connectors.includes(entry.connector)) {
    problems.push(`${name}.connector "${entry.connector}" is not a connector folder; known connectors: ${connectors.join(', ') || '(none)'}`);
  }
  if (typeof entry.function === 'string' && !functions.includes(entry.function)) {
    problems.push(`${name}.function "${entry.function}" is not a folder under functions/; known functions: ${functions.join(', ') || '(none)'}`);
  }
  if (entry.function !== undefined) {
    // Fivetran calls connectors with their settings in the request; these keys mean nothing to another function
    for (const key of ['airflow', 'response_cap_bytes'] as const) {
      if (entry[key] !== undefined) problems.push(`${name}.${key} applies to connector entries only; remove it from this function entry`);
    }
  } else if (entry.env !== undefined) {
    problems.push(`${name}.env applies to function entries only; a connector's settings are its Fivetran connection's secrets`);
  }
  if (entry.env && typeof entry.env === 'object' && !Array.isArray(entry.env)) {
    for (const [variable, value] of Object.entries(entry.env as Record<string, unknown>)) {
      if (!ENV_NAME.test(variable)) problems.push(`${name}.env.${variable} is not a variable name; use capital letters, digits and _`);
      else if (RESERVED_ENV.has(variable)) problems.push(`${name}.env.${variable} is set by the deploy itself; remove it`);
      else if (SECRET_ENV_NAME.test(variable) && typeof value === 'string') {
        problems.push(`${name}.env.${variable} holds a secret, which deploy.yaml must not: store it in Secret Manager and write ${variable}: {secret: <secret name>}`);
      }
    }
  }
  if (typeof entry.runtime === 'string') {
    const problem = runtimeProblem(entry.runtime, now);
    if (problem) problems.push(`${name}.runtime ${problem}`);
  }
  return problems;
}

export function parseDeployConfig(text: string, connectors: readonly string[], label = 'deploy.yaml', options: DeployConfigOptions = {}): DeployFunction[] {
  const functionFolders = options.functions ?? [];
  const doc = parseDocument(text, {prettyErrors: true});
  if (doc.errors.length) {
    const reasons = doc.errors.map((error) => {
      const line = error.linePos?.[0]?.line;
      const reason = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const hint = error.code === 'DUPLICATE_KEY' ? ' (a function is defined twice; names must be unique)' : '';
      return `${line ? `line ${line}: ` : ''}${reason}${hint}`;
    });
    const first = doc.errors[0]!.linePos?.[0]?.line;
    if (reasons.length === 1) throw new ProjectConfigError(`${label}${first ? ` line ${first}` : ''} is not valid YAML: ${reasons[0]!.replace(/^line \d+: /, '')}`);
    throw new ProjectConfigError(`${label} is not valid YAML: ${reasons.join('; ')}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) {
    throw new ProjectConfigError(`${label} defines no functions (it is empty or all commented out); add an entry like "my-function: {connector: freshness, environment: dev}"`);
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ProjectConfigError(`${label} must be a mapping of function names to {connector, environment}; found a ${Array.isArray(data) ? 'list' : typeof data}`);
  }
  const now = options.now ?? new Date();
  const functions: DeployFunction[] = [];
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(data as Record<string, unknown>)) {
    const validName = FUNCTION_NAME_RULE.test(name);
    if (!validName) problems.push(`function name "${name}" is invalid: use ${FUNCTION_NAME_HELP}`);
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      problems.push(`${name} must be a mapping with connector and environment`);
      continue;
    }
    const found = entryProblems(name, entry as Record<string, unknown>, connectors, functionFolders, now);
    problems.push(...found);
    if (validName && found.length === 0) functions.push({name, ...FunctionEntrySchema.parse(entry)} as DeployFunction);
  }
  if (problems.length) throw new ProjectConfigError(`${label}: ${problems.join('; ')}`);
  return functions.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A connector entry of deploy.yaml by name, or a connector used directly (for sync/serve). A function entry
 * is refused naming `command`, unless `functions` says the caller handles it (serve).
 */
export function resolveTarget(root: string, nameOrConnector: string, command: string): {functionName: string; connector: string; entry?: ConnectorFunction};
export function resolveTarget(root: string, nameOrConnector: string, command: string, options: {functions: true}): {functionName: string; connector: string; entry?: ConnectorFunction} | {functionName: string; connector?: undefined; entry: PlainFunction};
export function resolveTarget(root: string, nameOrConnector: string, command: string, options: {functions?: boolean} = {}) {
  const functions = existsSync(deployFile(root)) ? loadDeployConfig(root) : [];
  const entry = functions.find((fn) => fn.name === nameOrConnector);
  if (entry?.function !== undefined) {
    if (options.functions) return {functionName: entry.name, entry};
    connectorEntry(entry, command);
  }
  if (entry?.connector !== undefined) return {functionName: entry.name, connector: entry.connector, entry};
  if (listConnectorNames(root).includes(nameOrConnector)) return {functionName: nameOrConnector, connector: nameOrConnector};
  throw new ProjectConfigError(
    `"${nameOrConnector}" is neither a function in deploy.yaml (${functions.map((f) => f.name).join(', ') || 'none'}) nor a connector (${listConnectorNames(root).join(', ') || 'none'})`,
  );
}
