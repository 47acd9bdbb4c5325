// ./fivetran airflow dag|dags: every generated DAG is compiled and imported by python3 against the stand-in
// `airflow` and `fivetran_provider_async` modules in test/fixtures/airflow, which record what it declares.
import {execFileSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {airflowDag, airflowDags, checkSchedule, pythonLiteral} from './airflow.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const inspectScript = path.join(repo, 'test', 'fixtures', 'airflow', 'inspect_dags.py');

const TRICKY_ID = `it's "quoted" \\ {{ var.value.x }} é\n`;

const DEPLOY_YAML = `
orders-sync:
  connector: probe
  environment: prod
  airflow: {connector_id: decent_dropsy, schedule: "0 6 * * 1-5", owner: data-eng, retries: 3, sensor: true}
customer-freshness:
  connector: probe
  environment: dev
  airflow:
    connector_id: ${JSON.stringify(TRICKY_ID)}
    schedule: "@hourly"
no-airflow:
  connector: probe
  environment: dev
`;

interface InspectedTask {
  task_id: string;
  class: string;
  args: Record<string, unknown>;
  base_args: Record<string, unknown>;
  upstream: string[];
  downstream: string[];
}
interface InspectedDag {
  file: string;
  dag_class: string;
  dag_id: string;
  args: Record<string, unknown>;
  tasks: InspectedTask[];
}

/** What python3 sees importing the files; `airflowMajor` 3 adds `airflow.sdk` as Airflow 3 has it. */
function inspect(files: string[], airflowMajor: 2 | 3 = 2): InspectedDag[] {
  const env = {...process.env, AIRFLOW_MAJOR: String(airflowMajor)};
  return JSON.parse(execFileSync('python3', [inspectScript, ...files], {encoding: 'utf8', env})) as InspectedDag[];
}

let project: string;
let out: string;
const quiet = {stdout: () => undefined, stderr: () => undefined};

beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'fivetran-airflow-'));
  writeFileSync(path.join(project, 'package.json'), '{"name": "fleet", "type": "module"}\n');
  mkdirSync(path.join(project, 'connectors', 'probe'), {recursive: true});
  writeFileSync(path.join(project, 'connectors', 'probe', 'index.ts'), 'export {};\n');
  writeFileSync(path.join(project, 'deploy.yaml'), DEPLOY_YAML);
  out = path.join(project, 'dags');
});

afterAll(() => {
  rmSync(project, {recursive: true, force: true});
});

const SYNC_TIMEOUT = {timedelta_seconds: 7 * 3600};

describe('airflow dags', () => {
  it('writes one DAG per function with an airflow block, which Airflow imports with the right tasks', async () => {
    const dags = await airflowDags({out: 'dags', cwd: project, ...quiet});
    expect(dags.map((d) => d.dagId)).toEqual(['fivetran_customer_freshness', 'fivetran_orders_sync']);
    expect(readdirSync(out).sort()).toEqual(['fivetran_customer_freshness.py', 'fivetran_orders_sync.py']);

    const [freshness, orders] = inspect(dags.map((d) => d.file!));
    expect(freshness).toEqual({
      file: 'fivetran_customer_freshness.py',
      dag_class: 'airflow.DAG',
      dag_id: 'fivetran_customer_freshness',
      args: {
        description: 'Fivetran sync of the Cloud Function customer-freshness (connector probe)',
        schedule: '@hourly',
        start_date: {datetime: '2024-01-01T00:00:00+00:00'},
        catchup: false,
        max_active_runs: 1,
        default_args: {owner: 'airflow', retries: 2, retry_delay: {timedelta_seconds: 300}},
        tags: ['fivetran', 'probe', 'dev'],
      },
      tasks: [
        {
          task_id: 'trigger_sync',
          class: 'FivetranOperator',
          args: expect.objectContaining({connector_id: TRICKY_ID.trim(), fivetran_conn_id: 'fivetran_default', schedule_type: 'manual', deferrable: true}),
          base_args: {execution_timeout: SYNC_TIMEOUT},
          upstream: [],
          downstream: [],
        },
      ],
    });

    expect(orders!.args).toMatchObject({schedule: '0 6 * * 1-5', default_args: {owner: 'data-eng', retries: 3, retry_delay: {timedelta_seconds: 300}}, tags: ['fivetran', 'probe', 'prod']});
    expect(orders!.tasks).toEqual([
      {
        task_id: 'trigger_sync',
        class: 'FivetranOperator',
        args: expect.objectContaining({connector_id: 'decent_dropsy', fivetran_conn_id: 'fivetran_default', schedule_type: 'manual', deferrable: false}),
        base_args: {},
        upstream: [],
        downstream: ['wait_for_sync'],
      },
      {
        task_id: 'wait_for_sync',
        class: 'FivetranSensor',
        args: expect.objectContaining({
          connector_id: 'decent_dropsy',
          fivetran_conn_id: 'fivetran_default',
          completed_after_time: "{{ task_instance.xcom_pull(task_ids='trigger_sync', key='return_value') or '' }}",
          poke_interval: 60,
          deferrable: true,
        }),
        base_args: {execution_timeout: SYNC_TIMEOUT},
        upstream: ['trigger_sync'],
        downstream: [],
      },
    ]);
  });

  it('uses airflow.sdk.DAG on Airflow 3', async () => {
    const dags = await airflowDags({out: 'dags3', cwd: project, ...quiet});
    const inspected = inspect(dags.map((d) => d.file!), 3);
    expect(inspected.map((d) => d.dag_class)).toEqual(['airflow.sdk.DAG', 'airflow.sdk.DAG']);
    expect(inspected.map((d) => d.tasks.map((t) => t.task_id))).toEqual([['trigger_sync'], ['trigger_sync', 'wait_for_sync']]);
  });

  it('asks for an airflow block when no function has one', async () => {
    const bare = mkdtempSync(path.join(tmpdir(), 'fivetran-airflow-bare-'));
    try {
      writeFileSync(path.join(bare, 'package.json'), '{}\n');
      mkdirSync(path.join(bare, 'connectors', 'probe'), {recursive: true});
      writeFileSync(path.join(bare, 'connectors', 'probe', 'index.ts'), 'export {};\n');
      writeFileSync(path.join(bare, 'deploy.yaml'), 'only: {connector: probe, environment: dev}\n');
      await expect(airflowDags({out: 'dags', cwd: bare, ...quiet})).rejects.toThrow('no function in deploy.yaml has an airflow: block');
    } finally {
      rmSync(bare, {recursive: true, force: true});
    }
  });
});

describe('airflow dag', () => {
  it('prints the DAG of a function, with the schedule and connection id from the command line', async () => {
    let printed = '';
    const dag = await airflowDag({function: 'no-airflow', schedule: '*/30 * * * *', connectorId: 'wary_owl', cwd: project, stdout: (t) => void (printed += t)});
    expect(printed).toBe(dag.source);
    const file = path.join(project, 'single.py');
    writeFileSync(file, printed);
    const [inspected] = inspect([file]);
    expect(inspected).toMatchObject({dag_id: 'fivetran_no_airflow', args: {schedule: '*/30 * * * *'}, tasks: [{task_id: 'trigger_sync', args: {connector_id: 'wary_owl', deferrable: true}}]});
  });

  it('writes into --out and lets the command line override deploy.yaml', async () => {
    const dag = await airflowDag({function: 'orders-sync', schedule: '@daily', out: 'override', cwd: project, ...quiet});
    expect(dag.file).toBe(path.join(project, 'override', 'fivetran_orders_sync.py'));
    const [inspected] = inspect([dag.file!]);
    expect(inspected).toMatchObject({args: {schedule: '@daily'}, tasks: [{args: {connector_id: 'decent_dropsy'}}, {task_id: 'wait_for_sync'}]});
  });

  it('takes the connection id from fivetran.lock.yaml when deploy.yaml has none', async () => {
    writeFileSync(path.join(project, 'fivetran.lock.yaml'), 'no-airflow:\n  connection_id: locked_lynx\n');
    try {
      const dag = await airflowDag({function: 'no-airflow', schedule: '@daily', out: 'locked', cwd: project, ...quiet});
      expect(inspect([dag.file!])[0]).toMatchObject({tasks: [{task_id: 'trigger_sync', args: {connector_id: 'locked_lynx'}}]});
      // deploy.yaml's own id still wins
      const orders = await airflowDag({function: 'orders-sync', out: 'locked', cwd: project, ...quiet});
      expect(inspect([orders.file!])[0]).toMatchObject({tasks: [{args: {connector_id: 'decent_dropsy'}}, {task_id: 'wait_for_sync'}]});
    } finally {
      rmSync(path.join(project, 'fivetran.lock.yaml'));
    }
  });

  it('says what is missing or wrong in one line', async () => {
    await expect(airflowDag({function: 'no-airflow', cwd: project, ...quiet})).rejects.toThrow(
      'no-airflow has no Fivetran connection: run ./fivetran connect no-airflow (it records the id in fivetran.lock.yaml), pass --connector-id ID, or add airflow.connector_id to no-airflow in deploy.yaml',
    );
    await expect(airflowDag({function: 'no-airflow', connectorId: 'x', cwd: project, ...quiet})).rejects.toThrow('no-airflow has no airflow.schedule in deploy.yaml; pass --schedule CRON');
    await expect(airflowDag({function: 'orders-sync', schedule: 'every day', cwd: project, ...quiet})).rejects.toThrow('--schedule "every day" must be a cron expression like "0 6 * * *" or one of @once');
    await expect(airflowDag({function: 'nope', cwd: project, ...quiet})).rejects.toThrow('unknown function "nope"; deploy.yaml defines: customer-freshness, no-airflow, orders-sync');
  });
});

describe('pythonLiteral', () => {
  it('writes values Python reads back unchanged', () => {
    const values = ['plain', `quote ' and " and """`, 'back\\slash \\n not a newline', 'line\nbreak\ttab', 'é ü 中文 🎉', '\u2028\u0000', '{{ ds }}', 42, true, false, null, ['a', 1], {k: 'v'}];
    const script = `import json\nprint(json.dumps([${values.map(pythonLiteral).join(', ')}]))`;
    expect(JSON.parse(execFileSync('python3', ['-c', script], {encoding: 'utf8'}))).toEqual(values);
  });
});

describe('checkSchedule', () => {
  it('accepts cron expressions and presets and refuses the rest', () => {
    expect(checkSchedule('0 6 * * MON-FRI', 's')).toBe('0 6 * * MON-FRI');
    expect(checkSchedule(' @daily ', 's')).toBe('@daily');
    expect(() => checkSchedule('0 6 * *', 's')).toThrow('s "0 6 * *" must be a cron expression');
    expect(() => checkSchedule('@sometimes', 's')).toThrow('must be a cron expression');
  });
});

describe('airflow.resync_on_schema_change', () => {
  let resyncProject: string;
  const connectorSource = (columns: string) => `import {checkpoint, defineConnector, z} from ${JSON.stringify(path.join(repo, 'sdk', 'index.js'))};
export const connector = defineConnector({name: 'orders', secrets: z.object({}), tables: {orders: {primaryKey: ['id'], columns: {${columns}}}}, async test() {}, async *sync() { yield checkpoint({}); }});
`;

  beforeAll(() => {
    resyncProject = mkdtempSync(path.join(tmpdir(), 'fivetran-airflow-resync-'));
    writeFileSync(path.join(resyncProject, 'package.json'), '{"name": "fleet", "type": "module"}\n');
    mkdirSync(path.join(resyncProject, 'connectors', 'orders'), {recursive: true});
    writeFileSync(path.join(resyncProject, 'connectors', 'orders', 'index.ts'), connectorSource("id: 'long'"));
    writeFileSync(path.join(resyncProject, 'deploy.yaml'), 'orders-fn: {connector: orders, environment: dev, airflow: {connector_id: brisk_otter, schedule: "@daily", resync_on_schema_change: true}}\n');
  });
  afterAll(() => rmSync(resyncProject, {recursive: true, force: true}));

  it('resyncs once, before the sync, when a deploy changed the tables the function declares', async () => {
    const [dag] = await airflowDags({out: 'dags', cwd: resyncProject, ...quiet});
    const [inspected] = inspect([dag!.file!]);
    const task = (id: string) => inspected!.tasks.find((t) => t.task_id === id)!;
    expect(inspected!.tasks.map((t) => [t.task_id, t.class])).toEqual([
      ['check_schema', 'BranchPythonOperator'], ['resync', 'FivetranResyncOperator'], ['remember_schema', 'PythonOperator'], ['trigger_sync', 'FivetranOperator'],
    ]);
    expect(task('resync').args).toMatchObject({connector_id: 'brisk_otter', fivetran_conn_id: 'fivetran_default'});
    expect(task('check_schema').downstream).toEqual(['resync', 'trigger_sync']);
    expect(task('trigger_sync').upstream).toEqual(['check_schema', 'remember_schema']);
    expect(task('trigger_sync').base_args.trigger_rule).toBe('none_failed_min_one_success');

    // the branch: the first run remembers the schema; the same schema syncs; a changed one resyncs, and is
    // remembered only once the resync ran
    const script = `
import importlib.util, json, sys
sys.path.insert(0, ${JSON.stringify(path.dirname(inspectScript))})
from airflow.models import Variable
spec = importlib.util.spec_from_file_location("dag", ${JSON.stringify(dag!.file)})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
first = module._choose()
again = module._choose()
Variable.set(module.SCHEMA_VARIABLE, "an older schema")
changed = module._choose()
still = module._choose()
module._remember()
after = module._choose()
print(json.dumps([first, again, changed, still, after, Variable.values[module.SCHEMA_VARIABLE] == module.SCHEMA_FINGERPRINT]))`;
    expect(JSON.parse(execFileSync('python3', ['-c', script], {encoding: 'utf8'}))).toEqual(['trigger_sync', 'trigger_sync', 'resync', 'resync', 'trigger_sync', true]);

    // a deploy that adds a column gives the DAG a new fingerprint; the same tables keep it
    const before = /SCHEMA_FINGERPRINT = "([0-9a-f]{16})"/.exec(dag!.source)![1];
    const same = await airflowDag({function: 'orders-fn', cwd: resyncProject, ...quiet});
    expect(/SCHEMA_FINGERPRINT = "([0-9a-f]{16})"/.exec(same.source)![1]).toBe(before);
    writeFileSync(path.join(resyncProject, 'connectors', 'orders', 'index.ts'), connectorSource("id: 'long', note: 'string'"));
    // (a new process, as after a deploy: this one has the connector's module loaded already)
    execFileSync(process.execPath, ['--import', path.join(repo, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs'), path.join(repo, 'cli', 'index.ts'), 'airflow', 'dags', '--out', 'dags-next'], {cwd: resyncProject, stdio: 'pipe'});
    const next = readFileSync(path.join(resyncProject, 'dags-next', 'fivetran_orders_fn.py'), 'utf8');
    expect(/SCHEMA_FINGERPRINT = "([0-9a-f]{16})"/.exec(next)![1]).not.toBe(before);
  });

  it('leaves DAGs without the option as they were', async () => {
    const dags = await airflowDags({out: 'plain', cwd: project, ...quiet});
    for (const dag of dags) expect(dag.source).not.toContain('FivetranResyncOperator');
  });
});
