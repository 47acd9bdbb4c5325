// ./fivetran connect <function...|--all>: the Fivetran side of a deployed function as code. For each function
// it finds the trigger URL (gcloud functions describe, or --url), grants the group's Fivetran service account
// the invoker role (the function stays private), creates the "Google Cloud Function" connection when there
// is none (found by the id in fivetran.lock.yaml, else by destination schema in the group) or patches only
// what differs, runs the setup tests, and records the connection in fivetran.lock.yaml. A second run
// changes nothing and says so.
//
// Secrets come from a JSON file, environment variables or Google Secret Manager; never from the command
// line, and they never appear in output or the lock file. Fivetran answers secrets_list values masked, so
// they cannot be compared with the API's copy: the lock keeps `secrets_fingerprint`, an HMAC-SHA256 of the
// secrets keyed with the Fivetran API secret, and connect sends the secrets again only when that
// fingerprint, or the set of keys the API shows, differs. Without a secrets source the connection's secrets
// are left as they are (a new connection gets none).
import {createHmac} from 'node:crypto';
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import {connectorEntries, connectorEntry, DEPLOY_DEFAULTS, loadDeployConfig, type DeployFunction} from '../project/deploy-yaml.js';
import {projectRoot} from '../project/root.js';
import {FivetranApiError, type FivetranApi} from '../sdk/fivetran-api.js';
import {schemaNameFor} from '../emulator/warehouse.js';
import {CliConfigError, CommandFailed, UsageError} from './errors.js';
import {
  createFunctionConnection,
  getFunctionConnection,
  groupServiceAccount,
  runSetupTests,
  updateFunctionConnection,
  type FunctionConnection,
  type KeyValue,
  type SetupTest,
} from './fivetran-connections.js';
import {projectFlag, runGcloud} from './gcloud.js';
import {readLock, updateLockEntry, type LockEntry} from './lock.js';
import {apiFromEnv} from './monitor/common.js';
import {printJson} from './output.js';

/** Fivetran's default schedule for a new connection with an `auto` schedule, in minutes. */
export const DEFAULT_SYNC_FREQUENCY = 360;
export const SYNC_FREQUENCIES = [1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440] as const;
const CONCURRENCY = 4;

export interface ConnectOptions {
  functions?: string[];
  all?: boolean;
  /** the Fivetran group (destination); default FIVETRAN_GROUP_ID, then the group in the lock file */
  group?: string;
  /** a JSON file: {key: value} for every function, or {"<function>": {key: value}} */
  secrets?: string;
  /** environment variables <PREFIX><KEY> (all functions) and <PREFIX><FUNCTION>__<KEY> (one function) */
  secretsFrom?: string;
  /** a Secret Manager secret holding the JSON of --secrets; `{function}` in the name is the function name */
  secretsFromGcp?: string;
  /** the trigger URL instead of asking gcloud (one function only) */
  url?: string;
  /** the invoker role is granted elsewhere (the CircleCI deploy job does it): connect runs no gcloud then, with --url */
  skipGrant?: boolean;
  /** for `auto` schedules: minutes between syncs (default 360 on creation; when given, also enforced on update) */
  syncFrequency?: number;
  dryRun?: boolean;
  json?: boolean;
  cwd?: string;
  /** FIVETRAN_API_KEY/SECRET/URL, FIVETRAN_GROUP_ID, GCLOUD_PROJECT, PATH, the --secrets-from variables */
  env?: NodeJS.ProcessEnv;
  /** API client retries (tests lower them) */
  retries?: number;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export interface ConnectResult {
  function: string;
  action: 'created' | 'updated' | 'unchanged' | 'would create' | 'would update' | 'failed';
  connection_id?: string;
  group_id: string;
  schema: string;
  trigger_url?: string;
  /** what changed (or would change), e.g. "schedule_type: auto → manual"; never a secret value */
  changes: string[];
  setup_tests: SetupTest[];
  error?: string;
}

type Secrets = Record<string, string>;

// ---- secrets ----

function secretValue(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  throw new CliConfigError(`${where} is ${value === null ? 'null' : typeof value}; secrets are strings, numbers, booleans or JSON objects`);
}

function flatSecrets(value: Record<string, unknown>, where: string): Secrets {
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, secretValue(item, `${where} key "${key}"`)]));
}

/** `{key: value}` for all, or `{"<function>": {key: value}}` when every top-level key is a selected function. */
function secretsPerFunction(value: unknown, names: string[], where: string): (name: string) => Secrets | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CliConfigError(`${where} must hold a JSON object of secrets`);
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  const perFunction = keys.length > 0 && keys.every((key) => names.includes(key) && object[key] !== null && typeof object[key] === 'object' && !Array.isArray(object[key]));
  if (perFunction) return (name) => (name in object ? flatSecrets(object[name] as Record<string, unknown>, `${where} ${name}`) : undefined);
  const all = flatSecrets(object, where);
  return () => all;
}

function parseSecretsJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliConfigError(`${where} is not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
}

/** `FUNCTION` of `customer-freshness` as an environment variable part: CUSTOMER_FRESHNESS. */
export const envName = (name: string) => name.toUpperCase().replace(/[^A-Z0-9]/g, '_');

type SecretsSource = (fn: DeployFunction) => Promise<Secrets | undefined>;

function secretsSource(options: ConnectOptions, names: string[], root: string, cwd: string, env: NodeJS.ProcessEnv): SecretsSource {
  const given = [options.secrets && '--secrets', options.secretsFrom && '--secrets-from', options.secretsFromGcp && '--secrets-from-gcp'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`use one of --secrets, --secrets-from and --secrets-from-gcp, not ${given.join(' and ')}`);
  if (options.secrets) {
    const file = path.resolve(cwd, options.secrets);
    if (!existsSync(file)) throw new CliConfigError(`secrets file ${options.secrets} not found`);
    const pick = secretsPerFunction(parseSecretsJson(readFileSync(file, 'utf8'), `secrets file ${options.secrets}`), names, `secrets file ${options.secrets}`);
    return (fn) => Promise.resolve(pick(fn.name));
  }
  if (options.secretsFrom) {
    const prefix = options.secretsFrom;
    return (fn) => {
      const own = `${prefix}${envName(fn.name)}__`;
      const common: Secrets = {};
      const specific: Secrets = {};
      for (const [name, value] of Object.entries(env)) {
        if (value === undefined || !name.startsWith(prefix)) continue;
        if (name.startsWith(own)) specific[name.slice(own.length).toLowerCase()] = value;
        else if (!name.slice(prefix.length).includes('__')) common[name.slice(prefix.length).toLowerCase()] = value;
      }
      const secrets = {...common, ...specific};
      delete secrets[''];
      return Promise.resolve(Object.keys(secrets).length ? secrets : undefined);
    };
  }
  if (options.secretsFromGcp) {
    const template = options.secretsFromGcp;
    const cache = new Map<string, Promise<(name: string) => Secrets | undefined>>();
    return async (fn) => {
      const secret = template.replaceAll('{function}', fn.name);
      if (!cache.has(secret)) {
        const args = ['secrets', 'versions', 'access', 'latest', `--secret=${secret}`, ...projectFlag(env)];
        cache.set(secret, runGcloud(args, {env, cwd: root}, `gcloud secrets versions access latest --secret=${secret}`).then((text) => secretsPerFunction(parseSecretsJson(text, `Secret Manager secret ${secret}`), names, `Secret Manager secret ${secret}`)));
      }
      return (await cache.get(secret)!)(fn.name);
    };
  }
  return () => Promise.resolve(undefined);
}

/** HMAC-SHA256 of the secrets (sorted by key) keyed with the API secret: tells a change, reveals nothing. */
export function secretsFingerprint(secrets: Secrets, apiSecret: string): string {
  const canonical = JSON.stringify(Object.keys(secrets).sort().map((key) => [key, secrets[key]]));
  return `hmac-sha256:${createHmac('sha256', apiSecret).update(canonical).digest('hex')}`;
}

const secretsList = (secrets: Secrets): KeyValue[] => Object.keys(secrets).sort().map((key) => ({key, value: secrets[key]!}));

// ---- the plan of one function ----

interface Desired {
  schema: string;
  triggerUrl: string;
  scheduleType: 'auto' | 'manual';
  syncFrequency?: number;
  secrets?: Secrets;
  fingerprint?: string;
}

/** What to PATCH to make `current` what we want, and the changes in words. */
export function connectionChanges(current: FunctionConnection, desired: Desired, lock: LockEntry | undefined): {patch: Record<string, unknown>; changes: string[]} {
  const patch: Record<string, unknown> = {};
  const config: Record<string, unknown> = {};
  const changes: string[] = [];
  const trigger = current.config?.function_trigger;
  if (trigger !== desired.triggerUrl) {
    config.function_trigger = desired.triggerUrl;
    changes.push(`function_trigger: ${trigger ?? '(none)'} → ${desired.triggerUrl}`);
  }
  if (current.schedule_type !== desired.scheduleType) {
    patch.schedule_type = desired.scheduleType;
    changes.push(`schedule_type: ${current.schedule_type ?? '(none)'} → ${desired.scheduleType}`);
  }
  if (desired.scheduleType === 'auto' && desired.syncFrequency !== undefined && current.sync_frequency !== desired.syncFrequency) {
    patch.sync_frequency = desired.syncFrequency;
    changes.push(`sync_frequency: ${current.sync_frequency ?? '(none)'} → ${desired.syncFrequency} minutes`);
  }
  if (desired.secrets) {
    const keys = Object.keys(desired.secrets).sort();
    const currentKeys = (current.config?.secrets_list ?? []).map((pair) => pair.key).sort();
    const added = keys.filter((key) => !currentKeys.includes(key));
    const removed = currentKeys.filter((key) => !keys.includes(key));
    const fingerprintDiffers = lock?.connection_id !== current.id || lock.secrets_fingerprint !== desired.fingerprint;
    if (added.length || removed.length || fingerprintDiffers) {
      config.secrets_list = secretsList(desired.secrets);
      const parts = [added.length && `added ${added.join(', ')}`, removed.length && `removed ${removed.join(', ')}`].filter(Boolean);
      const why = lock?.connection_id === current.id && lock.secrets_fingerprint ? 'values changed' : 'no fingerprint recorded for this connection';
      changes.push(`secrets: ${parts.length ? parts.join('; ') : why}`);
    }
  }
  if (Object.keys(config).length) patch.config = config;
  return {patch, changes};
}

// ---- the command ----

function selectFunctions(all: DeployFunction[], options: ConnectOptions): DeployFunction[] {
  const names = options.functions ?? [];
  if (names.length && options.all) throw new UsageError('name functions or pass --all, not both');
  if (!names.length && !options.all) throw new UsageError('say what to connect: function names from deploy.yaml, or --all');
  const unknown = names.filter((name) => !all.some((fn) => fn.name === name));
  if (unknown.length) throw new CliConfigError(`unknown function${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; deploy.yaml defines: ${all.map((fn) => fn.name).join(', ') || '(none)'}`);
  // a named function entry is refused; --all skips them (only connectors have a Fivetran connection)
  const selected = names.length ? all.filter((fn) => names.includes(fn.name)).map((fn) => connectorEntry(fn, 'connect')) : connectorEntries(all);
  if (!selected.length) throw new CliConfigError('deploy.yaml defines no connector functions to connect');
  if (options.url && selected.length > 1) throw new UsageError('--url is the trigger URL of one function; name one function with it');
  return selected;
}

async function triggerUrlOf(fn: DeployFunction, options: ConnectOptions, env: NodeJS.ProcessEnv, root: string): Promise<string> {
  if (options.url) {
    if (!/^https?:\/\/\S+$/.test(options.url)) throw new UsageError(`--url "${options.url}" must be the function's trigger URL (https://...)`);
    return options.url;
  }
  const region = fn.region ?? DEPLOY_DEFAULTS.region;
  const args = ['functions', 'describe', fn.name, '--gen2', `--region=${region}`, '--format=value(serviceConfig.uri)', ...projectFlag(env)];
  const url = (await runGcloud(args, {env, cwd: root}, `gcloud functions describe ${fn.name}`)).trim();
  if (!/^https:\/\/\S+$/.test(url)) {
    throw new CommandFailed(`gcloud functions describe ${fn.name} gave no trigger URL${url ? ` (got "${url.slice(0, 80)}")` : ''}; deploy it first (./fivetran deploy ${fn.name}) or pass --url`);
  }
  return url;
}

/** The connection of `fn`: by the lock's id (if it still exists), else by schema in the group. */
async function findConnection(api: FivetranApi, groupId: string, schema: string, lock: LockEntry | undefined, fnName: string): Promise<FunctionConnection | undefined> {
  if (lock?.connection_id) {
    try {
      const connection = await getFunctionConnection(api, lock.connection_id);
      if (connection.group_id !== groupId) {
        throw new CliConfigError(`${fnName} is connected in group ${connection.group_id} (connection ${connection.id}, fivetran.lock.yaml), not ${groupId}; pass --group ${connection.group_id}, or remove its entry from fivetran.lock.yaml to connect it anew`);
      }
      return connection;
    } catch (error) {
      if (!(error instanceof FivetranApiError && error.httpStatus === 404)) throw error;
    }
  }
  const connections = (await api.listConnections(groupId)) as FunctionConnection[];
  return connections.find((c) => c.schema === schema);
}

const failedTests = (tests: SetupTest[]) => tests.filter((t) => !['PASSED', 'SKIPPED', 'WARNING'].includes(t.status.toUpperCase()));

export async function connect(options: ConnectOptions): Promise<ConnectResult[]> {
  const cwd = options.cwd ?? process.cwd();
  const root = projectRoot(cwd);
  const env = options.env ?? process.env;
  const out = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const err = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const say = (text: string) => (options.json ? err : out)(`${text}\n`);
  if (options.syncFrequency !== undefined && !(SYNC_FREQUENCIES as readonly number[]).includes(options.syncFrequency)) {
    throw new UsageError(`--sync-frequency ${options.syncFrequency} must be one of ${SYNC_FREQUENCIES.join(', ')} (minutes)`);
  }
  const defined = loadDeployConfig(root);
  const selected = selectFunctions(defined, options);
  const lock = readLock(root);
  const groupFor = (fn: DeployFunction) => options.group ?? env.FIVETRAN_GROUP_ID?.trim() ?? lock[fn.name]?.group_id;
  const missingGroup = selected.filter((fn) => !groupFor(fn));
  if (missingGroup.length) {
    throw new UsageError(`no Fivetran group for ${missingGroup.map((fn) => fn.name).join(', ')}: pass --group ID or set FIVETRAN_GROUP_ID (the destination group's id, from ./fivetran monitor status --json or the Fivetran dashboard)`);
  }
  const api = apiFromEnv(env, options.retries);
  const apiSecret = env.FIVETRAN_API_SECRET!;
  // a file keyed by function names is recognised by every function of deploy.yaml, not only those selected
  const secretsOf = secretsSource(options, defined.map((fn) => fn.name), root, cwd, env);

  // one service account per group; an unknown group stops everything before anything changes
  const accounts = new Map<string, string>();
  for (const groupId of new Set(selected.map((fn) => groupFor(fn)!))) {
    try {
      accounts.set(groupId, await groupServiceAccount(api, groupId));
    } catch (error) {
      if (error instanceof FivetranApiError && error.httpStatus === 404) throw new CliConfigError(`no Fivetran group "${groupId}" for this API key; check --group or FIVETRAN_GROUP_ID`);
      throw error;
    }
  }

  const connectOne = async (fn: DeployFunction): Promise<ConnectResult> => {
    const groupId = groupFor(fn)!;
    const schema = lock[fn.name]?.schema ?? schemaNameFor(fn.name);
    const result: ConnectResult = {function: fn.name, action: 'failed', group_id: groupId, schema, changes: [], setup_tests: []};
    try {
      const secrets = await secretsOf(fn);
      const triggerUrl = await triggerUrlOf(fn, options, env, root);
      result.trigger_url = triggerUrl;
      const desired: Desired = {
        schema,
        triggerUrl,
        scheduleType: fn.airflow ? 'manual' : 'auto',
        syncFrequency: options.syncFrequency,
        secrets,
        fingerprint: secrets ? secretsFingerprint(secrets, apiSecret) : undefined,
      };
      const member = `serviceAccount:${accounts.get(groupId)!}`;
      const grant = ['functions', 'add-invoker-policy-binding', fn.name, `--region=${fn.region ?? DEPLOY_DEFAULTS.region}`, `--member=${member}`, ...projectFlag(env)];
      const existing = await findConnection(api, groupId, schema, lock[fn.name], fn.name);

      if (options.dryRun) {
        if (!existing) {
          result.action = 'would create';
          result.changes = [`create in group ${groupId}: schema ${schema}, ${desired.scheduleType} schedule, trigger ${triggerUrl}${secrets ? `, secrets ${Object.keys(secrets).sort().join(', ')}` : ', no secrets'}`];
        } else {
          result.connection_id = existing.id;
          result.changes = connectionChanges(existing, desired, lock[fn.name]).changes;
          result.action = result.changes.length ? 'would update' : 'unchanged';
        }
        if (!options.skipGrant) result.changes.unshift(`grant ${member} the invoker role on ${fn.name}`);
        return result;
      }

      // the grant comes first: the setup tests call the function as that service account
      if (!options.skipGrant) await runGcloud(grant, {env, cwd: root}, `gcloud functions add-invoker-policy-binding ${fn.name}`);
      let connection: FunctionConnection;
      if (!existing) {
        connection = await createFunctionConnection(api, {
          group_id: groupId,
          paused: false,
          schedule_type: desired.scheduleType,
          ...(desired.scheduleType === 'auto' ? {sync_frequency: desired.syncFrequency ?? DEFAULT_SYNC_FREQUENCY} : {}),
          run_setup_tests: true,
          config: {schema, function_trigger: triggerUrl, secrets_list: secretsList(secrets ?? {}), custom_payloads: []},
        });
        result.action = 'created';
        result.setup_tests = connection.setup_tests ?? [];
      } else {
        const {patch, changes} = connectionChanges(existing, desired, lock[fn.name]);
        result.changes = changes;
        if (changes.length) {
          await updateFunctionConnection(api, existing.id, patch);
          result.action = 'updated';
        } else {
          result.action = 'unchanged';
        }
        connection = await runSetupTests(api, existing.id);
        result.setup_tests = connection.setup_tests ?? [];
      }
      result.connection_id = connection.id;

      const entry = lock[fn.name];
      const record: Partial<LockEntry> = {connection_id: connection.id, group_id: groupId, schema, trigger_url: triggerUrl, ...(desired.fingerprint ? {secrets_fingerprint: desired.fingerprint} : {})};
      const differs = Object.entries(record).some(([key, value]) => entry?.[key as keyof LockEntry] !== value);
      if (result.action !== 'unchanged' || differs) updateLockEntry(root, fn.name, {...record, connected_at: new Date().toISOString()});

      const failed = failedTests(result.setup_tests);
      if (failed.length) {
        result.error = `setup test failed: ${failed.map((t) => `${t.title}: ${t.message || t.status}`).join('; ')}`;
      }
      return result;
    } catch (error) {
      result.action = 'failed';
      result.error = error instanceof Error ? error.message : String(error);
      if (!(error instanceof CommandFailed || error instanceof CliConfigError || error instanceof UsageError || error instanceof FivetranApiError || (error instanceof Error && 'exitCode' in error))) {
        result.error = `unexpected error: ${result.error}`;
      }
      return result;
    }
  };

  const limit = pLimit(CONCURRENCY);
  const results = await Promise.all(selected.map((fn) => limit(() => connectOne(fn))));

  for (const r of results) {
    const id = r.connection_id ? ` ${r.connection_id}` : '';
    if (r.action === 'failed') say(`✗ ${r.function}: ${r.error}`);
    else if (r.action === 'created') say(`${r.function}: created connection${id} in group ${r.group_id} (schema ${r.schema})`);
    else if (r.action === 'updated' || r.action === 'would update') say(`${r.function}: ${r.action === 'updated' ? 'updated' : 'would update'} connection${id}: ${r.changes.filter((c) => !c.startsWith('grant ')).join('; ')}`);
    else if (r.action === 'would create') say(`${r.function}: would ${r.changes.filter((c) => !c.startsWith('grant ')).join('; ')}`);
    else say(`${r.function}: no changes (connection${id})`);
    if (options.dryRun) for (const change of r.changes.filter((c) => c.startsWith('grant '))) say(`  would ${change}`);
    for (const test of r.setup_tests) say(`  ${test.status.padEnd(7)} ${test.title}${test.message ? `: ${test.message}` : ''}`);
  }
  if (options.json) printJson(results);
  else if (!options.dryRun) {
    const count = (action: ConnectResult['action']) => results.filter((r) => r.action === action).length;
    const changed = count('created') + count('updated');
    say(changed === 0 && count('failed') === 0 ? 'no changes' : `${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged${count('failed') ? `, ${count('failed')} failed` : ''}`);
  }

  const failed = results.filter((r) => r.error);
  if (failed.length === 1) throw new CommandFailed(`connect ${failed[0]!.function}: ${failed[0]!.error}`);
  if (failed.length > 1) throw new CommandFailed(`connect failed for ${failed.length} of ${results.length} functions: ${failed.map((r) => r.function).join(', ')}`);
  return results;
}
