// ./fivetran connect, resync, state, status and airflow end to end: a throwaway git project with the
// repository's deploy.yaml, the API simulator on loopback, and a fake gcloud on PATH that records its calls.
import {execFileSync, spawn} from 'node:child_process';
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../emulator/api-simulator.js';
import {defaultStateFile, pendingFile, writePending} from '../emulator/state-store.js';
import {Warehouse} from '../emulator/warehouse.js';
import {airflowDags} from './airflow.js';
import {connect, type ConnectOptions} from './connect.js';
import {fleetStatus, reset, resync, stateGet, stateSet} from './connection-commands.js';
import {LOCK_FILE, readLock, recordDeploy} from './lock.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'hunter2-do-not-print';

// describe: a gen2 URI per function, or gcloud's NOT_FOUND for names in FAKE_GCLOUD_MISSING;
// add-invoker-policy-binding: the policy, or PERMISSION_DENIED when FAKE_GCLOUD_DENY is set;
// secrets versions access: the file <FAKE_GCLOUD_SECRETS>/<name>.json.
const FAKE_GCLOUD = `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_GCLOUD_LOG, JSON.stringify(args) + '\\n');
const fail = (message) => { process.stderr.write(message + '\\n'); process.exit(1); };
if (args[0] === 'functions' && args[1] === 'describe') {
  const name = args[2];
  if ((process.env.FAKE_GCLOUD_MISSING || '').split(',').includes(name)) fail('ERROR: (gcloud.functions.describe) NOT_FOUND: Resource projects/acme/locations/us-central1/functions/' + name + ' was not found');
  process.stdout.write('https://' + name + '-x7k2q-uc.a.run.app\\n');
} else if (args[0] === 'functions' && args[1] === 'add-invoker-policy-binding') {
  if (process.env.FAKE_GCLOUD_DENY) fail('ERROR: (gcloud.functions.add-invoker-policy-binding) PERMISSION_DENIED: Permission run.services.setIamPolicy denied on resource ' + args[2]);
  const member = args.find((a) => a.startsWith('--member=')).slice(9);
  process.stdout.write('bindings:\\n- members:\\n  - ' + member + '\\n  role: roles/run.invoker\\n');
} else if (args[0] === 'secrets') {
  const name = args.find((a) => a.startsWith('--secret=')).slice(9);
  const file = path.join(process.env.FAKE_GCLOUD_SECRETS, name + '.json');
  if (!fs.existsSync(file)) fail('ERROR: (gcloud.secrets.versions.access) NOT_FOUND: Secret [' + name + '] not found');
  process.stdout.write(fs.readFileSync(file, 'utf8'));
} else fail('ERROR: (gcloud) unexpected command ' + args.join(' '));
`;

let sim: ApiSimulator;
let project: string;
let bin: string;
let gcloudLog: string;
let groupId: string;

const git = (...args: string[]) => execFileSync('git', args, {cwd: project, encoding: 'utf8'}).trim();

function calls(): string[][] {
  if (!existsSync(gcloudLog)) return [];
  return readFileSync(gcloudLog, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[]);
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: `${bin}${path.delimiter}${process.env.PATH}`,
    FIVETRAN_API_KEY: sim.apiKey,
    FIVETRAN_API_SECRET: sim.apiSecret,
    FIVETRAN_API_URL: sim.url,
    GCLOUD_PROJECT: 'acme-data',
    FAKE_GCLOUD_LOG: gcloudLog,
    FAKE_GCLOUD_SECRETS: path.join(bin, 'secrets'),
    ...extra,
  };
}

function output() {
  const lines: string[] = [];
  return {lines, text: () => lines.join(''), stdout: (t: string) => void lines.push(t), stderr: (t: string) => void lines.push(t)};
}

async function run(options: Partial<ConnectOptions> = {}, extraEnv: Record<string, string> = {}) {
  const o = output();
  const results = await connect({all: true, group: groupId, secrets: 'secrets.json', cwd: project, env: env(extraEnv), retries: 0, stdout: o.stdout, stderr: o.stderr, ...options});
  return {results, text: o.text()};
}

async function failure(promise: Promise<unknown>): Promise<{message: string; exitCode: number}> {
  try {
    await promise;
  } catch (error) {
    return {message: (error as Error).message, exitCode: (error as {exitCode?: number}).exitCode ?? -1};
  }
  throw new Error('expected the command to fail');
}

beforeAll(async () => {
  sim = await startApiSimulator({fleet: {groups: [{id: 'warehouse_prod', name: 'Warehouse', created_at: '2026-01-01T00:00:00Z'}], connections: []}, syncDurationMs: 200});
  groupId = 'warehouse_prod';
  project = mkdtempSync(path.join(tmpdir(), 'fivetran-connect-'));
  writeFileSync(path.join(project, 'package.json'), '{"name": "fleet", "type": "module"}\n');
  for (const connector of ['freshness', 'monitoring', 'replication']) {
    mkdirSync(path.join(project, 'connectors', connector), {recursive: true});
    writeFileSync(path.join(project, 'connectors', connector, 'index.ts'), 'export const main = () => undefined;\n');
  }
  // the repository's deploy.yaml has a function entry too (fivetran-webhooks), which --all leaves out
  mkdirSync(path.join(project, 'functions', 'fivetran-webhooks'), {recursive: true});
  writeFileSync(path.join(project, 'functions', 'fivetran-webhooks', 'index.ts'), 'export const main = () => undefined;\n');
  cpSync(path.join(repo, 'deploy.yaml'), path.join(project, 'deploy.yaml'));
  writeFileSync(
    path.join(project, 'secrets.json'),
    JSON.stringify({
      'customer-freshness': {database_url: `postgres://u:${SECRET}@db/app`, fivetran_api_key: 'k', fivetran_api_secret: SECRET},
      monitoring: {fivetran_api_key: 'k', fivetran_api_secret: SECRET},
      replication: {database_url: `postgres://u:${SECRET}@db/app`},
    }),
  );
  execFileSync('git', ['init', '-q', '-b', 'main'], {cwd: project});
  git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'add', '.');
  git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'fleet');
  bin = mkdtempSync(path.join(tmpdir(), 'fivetran-connect-gcloud-'));
  gcloudLog = path.join(bin, 'calls.jsonl');
  writeFileSync(path.join(bin, 'gcloud'), FAKE_GCLOUD);
  chmodSync(path.join(bin, 'gcloud'), 0o755);
  mkdirSync(path.join(bin, 'secrets'));
});

afterAll(async () => {
  await sim?.close();
  rmSync(project, {recursive: true, force: true});
  rmSync(bin, {recursive: true, force: true});
});

describe('connect', () => {
  it('connects every function: trigger URL from gcloud, invoker role for the group, connection, setup tests, lock file', async () => {
    const dry = await run({dryRun: true});
    expect(dry.results.map((r) => r.action)).toEqual(['would create', 'would create', 'would create']);
    expect(sim.requestCount('POST /v1/connections')).toBe(0);
    expect(existsSync(path.join(project, LOCK_FILE))).toBe(false);
    expect(calls().some((c) => c[1] === 'add-invoker-policy-binding')).toBe(false);

    const {results, text} = await run();
    expect(results.map((r) => [r.function, r.action])).toEqual([['customer-freshness', 'created'], ['monitoring', 'created'], ['replication', 'created']]);
    const account = sim.connect.serviceAccount(groupId);
    expect(calls()).toContainEqual(['functions', 'describe', 'customer-freshness', '--gen2', '--region=us-central1', '--format=value(serviceConfig.uri)', '--project=acme-data']);
    expect(calls()).toContainEqual(['functions', 'add-invoker-policy-binding', 'replication', '--region=us-central1', `--member=serviceAccount:${account}`, '--project=acme-data']);
    expect(text).toContain('customer-freshness: created connection');
    expect(text).toContain('PASSED  Connecting to the function');
    expect(text).toContain('3 created, 0 updated, 0 unchanged');

    const lock = readLock(project);
    const freshness = lock['customer-freshness']!;
    expect(freshness).toMatchObject({group_id: groupId, schema: 'customer_freshness', trigger_url: 'https://customer-freshness-x7k2q-uc.a.run.app'});
    const connection = sim.connection(freshness.connection_id!);
    expect(connection).toMatchObject({service: 'google_cloud_function', schedule_type: 'auto', sync_frequency: 360, paused: false, status: {setup_state: 'connected'}});
    expect(sim.connect.secrets(freshness.connection_id!)).toContainEqual({key: 'database_url', value: `postgres://u:${SECRET}@db/app`});

    // secrets never in output or the lock file
    expect(text).not.toContain(SECRET);
    expect(readFileSync(path.join(project, LOCK_FILE), 'utf8')).not.toContain(SECRET);
  });

  it('changes nothing the second time, and says so', async () => {
    const lockBefore = readFileSync(path.join(project, LOCK_FILE), 'utf8');
    sim.resetRequests();
    const {results, text} = await run();
    expect(results.map((r) => r.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(text.trim().split('\n').at(-1)).toBe('no changes');
    expect(sim.requestCount('POST /v1/connections')).toBe(0);
    expect(sim.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
    expect(readFileSync(path.join(project, LOCK_FILE), 'utf8')).toBe(lockBefore);
  });

  it('patches only what changed and prints it: a schedule from an airflow block, new secret values', async () => {
    const yaml = readFileSync(path.join(project, 'deploy.yaml'), 'utf8').replace('customer-freshness:\n  connector: freshness\n', 'customer-freshness:\n  connector: freshness\n  airflow: {schedule: "0 6 * * *"}\n');
    writeFileSync(path.join(project, 'deploy.yaml'), yaml);
    const secrets = JSON.parse(readFileSync(path.join(project, 'secrets.json'), 'utf8')) as Record<string, Record<string, string>>;
    secrets.replication!.database_url = `postgres://u:${SECRET}-rotated@db/app`;
    writeFileSync(path.join(project, 'secrets.json'), JSON.stringify(secrets));
    const {results, text} = await run();
    expect(results.map((r) => [r.action, r.changes])).toEqual([
      ['updated', ['schedule_type: auto → manual']],
      ['unchanged', []],
      ['updated', ['secrets: values changed']],
    ]);
    expect(text).toMatch(/customer-freshness: updated connection \S+: schedule_type: auto → manual/);
    expect(text).not.toContain(SECRET);
    const id = readLock(project).replication!.connection_id!;
    expect(sim.connect.secrets(id)).toContainEqual({key: 'database_url', value: `postgres://u:${SECRET}-rotated@db/app`});
    git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qam', 'schedule freshness in airflow');
  });

  it('takes secrets from environment variables and from Secret Manager', async () => {
    const fromEnv = await run({functions: ['monitoring'], all: false, secrets: undefined, secretsFrom: 'FT_'}, {FT_FIVETRAN_API_KEY: 'k', FT_MONITORING__FIVETRAN_API_SECRET: SECRET});
    expect(fromEnv.results[0]!.action).toBe('unchanged');
    writeFileSync(path.join(bin, 'secrets', 'fleet-monitoring.json'), JSON.stringify({fivetran_api_key: 'k2', fivetran_api_secret: SECRET}));
    const fromGcp = await run({functions: ['monitoring'], all: false, secrets: undefined, secretsFromGcp: 'fleet-{function}'});
    expect(fromGcp.results[0]!.changes).toEqual(['secrets: values changed']);
    expect(calls()).toContainEqual(['secrets', 'versions', 'access', 'latest', '--secret=fleet-monitoring', '--project=acme-data']);
    expect(fromGcp.text).not.toContain(SECRET);
  });

  it('runs no gcloud with --url and --skip-grant, as the CI connect job does after the deploy job granted the role', async () => {
    rmSync(gcloudLog, {force: true});
    const url = 'https://monitoring-abc123-uc.a.run.app';
    const {results} = await run({functions: ['monitoring'], all: false, url, skipGrant: true});
    expect(results[0]).toMatchObject({action: 'updated', trigger_url: url});
    expect(results[0]!.changes).toContainEqual(expect.stringMatching(/^function_trigger: .* → https:\/\/monitoring-abc123-uc\.a\.run\.app$/));
    // the secrets file keyed by function is read as such with one function selected (not as one flat set)
    expect(results[0]!.changes.join('; ')).not.toMatch(/secrets: added/);
    expect(existsSync(gcloudLog) ? calls() : []).toEqual([]);
  });

  it('fails in one line with a non-zero exit: no such group, a failing setup test, gcloud refusing', async () => {
    const noGroup = await failure(run({group: 'no_such_group'}));
    expect(noGroup).toEqual({message: 'no Fivetran group "no_such_group" for this API key; check --group or FIVETRAN_GROUP_ID', exitCode: 1});

    sim.connect.failSetupTests('replication', 'The function answered 403: Fivetran may not invoke it');
    const failedTest = await failure(run({functions: ['replication'], all: false}));
    sim.connect.clearSetupTestFailures();
    expect(failedTest).toEqual({message: 'connect replication: setup test failed: Connecting to the function: The function answered 403: Fivetran may not invoke it', exitCode: 1});

    const denied = await failure(run({functions: ['monitoring'], all: false}, {FAKE_GCLOUD_DENY: '1'}));
    expect(denied.message).toBe(
      'connect monitoring: gcloud functions add-invoker-policy-binding monitoring failed: ERROR: (gcloud.functions.add-invoker-policy-binding) PERMISSION_DENIED: Permission run.services.setIamPolicy denied on resource monitoring',
    );
    const missing = await failure(run({}, {FAKE_GCLOUD_MISSING: 'monitoring'}));
    expect(missing).toEqual({message: 'connect monitoring: gcloud functions describe monitoring failed: ERROR: (gcloud.functions.describe) NOT_FOUND: Resource projects/acme/locations/us-central1/functions/monitoring was not found', exitCode: 1});
    for (const f of [noGroup, failedTest, denied, missing]) expect(f.message).not.toContain('\n');
  });

  it('exits non-zero with one line from the command line', async () => {
    const child = spawn(process.execPath, ['--import', path.join(repo, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs'), path.join(repo, 'cli', 'index.ts'), 'connect', '--all', '--group', 'nope'], {
      cwd: project,
      env: {...env(), VITEST: undefined},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(text).toBe('fivetran: no Fivetran group "nope" for this API key; check --group or FIVETRAN_GROUP_ID\n');
  });
});

describe('after connect', () => {
  it('status shows the deployed commit, the health, and whether the code changed since', async () => {
    const deployed = git('rev-parse', 'HEAD');
    recordDeploy(project, 'customer-freshness', {commit: deployed, time: '2026-01-05T10:00:00Z'});
    recordDeploy(project, 'replication', {commit: deployed, time: '2026-01-05T10:00:00Z'});
    writeFileSync(path.join(project, 'connectors', 'replication', 'index.ts'), 'export const main = () => \'changed\';\n');
    git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qam', 'change replication');
    const o = output();
    const rows = await fleetStatus({cwd: project, env: env(), retries: 0, stdout: o.stdout});
    expect(rows.map((r) => [r.function, r.deployed_commit, r.health, r.code])).toEqual([
      ['customer-freshness', deployed, 'healthy', 'up to date'],
      // a function entry has a deploy but no Fivetran connection
      ['fivetran-webhooks', null, 'no connection (function)', 'not deployed'],
      ['monitoring', null, 'healthy', 'not deployed'],
      ['replication', deployed, 'healthy', 'changed since deploy'],
    ]);
    expect(o.text()).toContain(deployed.slice(0, 12));
    expect(o.text().split('\n')[0]).toMatch(/^function\s+connection\s+commit\s+deployed_at\s+health\s+code$/);
  });

  it('airflow dags takes the connection id from the lock file', async () => {
    const [dag] = await airflowDags({out: 'dags', cwd: project, stderr: () => undefined});
    expect(dag!.source).toContain(JSON.stringify(readLock(project)['customer-freshness']!.connection_id));
  });

  it('resyncs a connection or tables, by the id in the lock file', async () => {
    const id = readLock(project).monitoring!.connection_id!;
    const o = output();
    await resync({function: 'monitoring', cwd: project, env: env(), retries: 0, stdout: o.stdout});
    sim.advance(1000);
    await resync({function: 'monitoring', tables: ['connections', 'alerts'], cwd: project, env: env(), retries: 0, stdout: o.stdout});
    sim.advance(1000);
    await resync({function: 'monitoring', tables: ['alerts'], cwd: project, env: env(), retries: 0, stdout: o.stdout});
    expect(sim.connect.resyncs.filter((r) => r.connectionId === id).map((r) => r.scope)).toEqual([null, {monitoring: ['connections', 'alerts']}, {monitoring: ['alerts']}]);
    expect(o.text()).toContain('resync of monitoring.alerts triggered for monitoring');
    const unconnected = await failure(resync({function: 'nope', cwd: project, env: env()}));
    expect(unconnected.message).toBe('unknown function "nope"; deploy.yaml defines: customer-freshness, fivetran-webhooks, monitoring, replication');
  });

  it('state get and set: pauses for the write, restores the pause, and refuses while syncing', async () => {
    const id = readLock(project).replication!.connection_id!;
    sim.advance(1000);
    sim.setState(id, {cursor: 41});
    const o = output();
    expect(await stateGet({function: 'replication', cwd: project, env: env(), retries: 0, stdout: o.stdout})).toEqual({cursor: 41});
    expect(JSON.parse(o.text())).toEqual({cursor: 41});
    writeFileSync(path.join(project, 'state.json'), '{"cursor": 42}');
    await stateSet({function: 'replication', file: 'state.json', cwd: project, env: env(), retries: 0, stdout: o.stdout});
    expect(sim.getState(id)).toEqual({cursor: 42});
    expect(sim.connection(id).paused).toBe(false);

    sim.setSyncDuration(60_000, id);
    await resync({function: 'replication', cwd: project, env: env(), retries: 0, stdout: () => undefined});
    const syncing = await failure(stateSet({function: 'replication', file: 'state.json', cwd: project, env: env(), retries: 0}));
    expect(syncing).toEqual({message: `replication (connection ${id}) is syncing; wait for the sync to finish (./fivetran monitor wait ${id}) and run state set again`, exitCode: 1});
  });

  it('reset wipes the local schema and state file, asking first on a terminal', async () => {
    const file = path.join(project, '.fivetran', 'warehouse.duckdb');
    mkdirSync(path.dirname(file), {recursive: true});
    const warehouse = await Warehouse.open(file);
    await warehouse.query('CREATE SCHEMA monitoring; CREATE TABLE monitoring.alerts (id INT); CREATE SCHEMA replication; CREATE TABLE replication.t (id INT)');
    await warehouse.close();
    mkdirSync(path.dirname(defaultStateFile(project, 'monitoring')), {recursive: true});
    writeFileSync(defaultStateFile(project, 'monitoring'), '{"cursor": 1}');
    // a response the last sync received and did not commit goes with the state
    writePending(defaultStateFile(project, 'monitoring'), {stateSent: {cursor: 1}, call: 3, body: '{}'});

    expect((await failure(reset({function: 'monitoring', cwd: project, interactive: false}))).message).toMatch(/pass --yes to do it without a terminal$/);
    expect((await failure(reset({function: 'monitoring', cwd: project, interactive: true, ask: () => Promise.resolve('n')}))).message).toBe('reset canceled; nothing deleted');
    let asked = '';
    await reset({function: 'monitoring', cwd: project, interactive: true, ask: (q) => ((asked = q), Promise.resolve('y')), stdout: () => undefined});
    expect(asked).toBe('delete the schema monitoring of .fivetran/warehouse.duckdb and its state file? [y/N] ');
    expect(existsSync(defaultStateFile(project, 'monitoring'))).toBe(false);
    expect(existsSync(pendingFile(defaultStateFile(project, 'monitoring')))).toBe(false);
    const after = await Warehouse.open(file, {readOnly: true});
    const {rows} = await after.query("SELECT schema_name FROM duckdb_schemas() WHERE schema_name IN ('monitoring', 'replication') ORDER BY 1");
    await after.close();
    expect(rows).toEqual([{schema_name: 'replication'}]);
  });
});
