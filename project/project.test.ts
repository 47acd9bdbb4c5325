// Tests of the project model: finding the root, the connector folders, and deploy.yaml's validation messages.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {DEPLOY_DEFAULTS, loadDeployConfig, memoryMb, parseDeployConfig, resolveTarget, timeoutSeconds} from './deploy-yaml.js';
import {listConnectorNames, projectRoot} from './root.js';

const CONNECTORS = ['freshness', 'monitoring', 'replication'];
const parse = (text: string) => parseDeployConfig(text, CONNECTORS);
/** The CliConfigError message parsing `text` throws. */
const problem = (text: string): string => {
  try {
    parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected deploy.yaml to be refused:\n${text}`);
};

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, {recursive: true, force: true});
});

function makeProject(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fivetran-project-'));
  made.push(root);
  for (const [file, text] of Object.entries({'package.json': '{"private": true}\n', ...files})) {
    mkdirSync(path.dirname(path.join(root, file)), {recursive: true});
    writeFileSync(path.join(root, file), text);
  }
  return root;
}

describe('parseDeployConfig', () => {
  it('reads functions sorted by name, keeping only the keys given', () => {
    const functions = parse(`
zeta-freshness: {connector: freshness, environment: prod, memory: 512Mi, timeout: 300s}
alpha:
  connector: replication
  environment: dev
  region: europe-west1
  max_instances: 3
  response_cap_bytes: 1048576
  airflow: {connector_id: warm_tulip, schedule: '@hourly', retries: 2}
`);
    expect(functions).toEqual([
      {name: 'alpha', connector: 'replication', environment: 'dev', region: 'europe-west1', max_instances: 3, response_cap_bytes: 1048576, airflow: {connector_id: 'warm_tulip', schedule: '@hourly', retries: 2}},
      {name: 'zeta-freshness', connector: 'freshness', environment: 'prod', memory: '512Mi', timeout: '300s'},
    ]);
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# customer-freshness:\n#   connector: freshness\n#   environment: dev\n'],
  ])('refuses %s, saying how to add a function', (_label, text) => {
    expect(problem(text)).toBe('deploy.yaml defines no functions (it is empty or all commented out); add an entry like "my-function: {connector: freshness, environment: dev}"');
  });

  it('names an unknown connector and lists the known ones', () => {
    expect(problem('orders: {connector: fresh, environment: dev}')).toBe('deploy.yaml: orders.connector "fresh" is not a connector folder; known connectors: freshness, monitoring, replication');
  });

  it.each(['1st-function', 'orders.freshness', 'a'.repeat(64), 'orders freshness'])('refuses the function name %j, saying the rule', (name) => {
    expect(problem(`"${name}": {connector: freshness, environment: dev}`)).toBe(
      `deploy.yaml: function name "${name}" is invalid: use letters, digits, - and _, starting with a letter, at most 63 characters`,
    );
  });

  it('names an unknown key, where it is, and the allowed keys', () => {
    expect(problem('orders: {connector: freshness, environment: dev, regoin: us-east1}')).toBe(
      'deploy.yaml: orders has unknown key "regoin" (allowed: connector, function, environment, region, memory, timeout, runtime, service_account, max_instances, response_cap_bytes, airflow, env)',
    );
    expect(problem('orders: {connector: freshness, environment: dev, airflow: {connector_id: c1, schedule: "@daily", owners: me}}')).toBe(
      'deploy.yaml: orders.airflow has unknown key "owners" (allowed: connector_id, schedule, owner, retries, sensor, resync_on_schema_change)',
    );
  });

  it.each([
    ['a missing environment', 'orders: {connector: freshness}', 'orders.environment is required: dev, prod, ... (the CircleCI context fivetran-<environment>)'],
    ['a missing connector', 'orders: {environment: dev}', 'orders needs connector (a folder under connectors/) or function (a folder under functions/)'],
    ['a connector that is not a name', 'orders: {connector: 5, environment: dev}', 'orders.connector must be the name of a folder under connectors/'],
    ['an environment in capitals', 'orders: {connector: freshness, environment: Prod}', 'orders.environment must be lowercase letters, digits and -, starting with a letter (like dev or prod)'],
    ['a bad memory', 'orders: {connector: freshness, environment: dev, memory: lots}', 'orders.memory must be like 256Mi, 1Gi or 512MB (a bare number is MB)'],
    ['a bad timeout', 'orders: {connector: freshness, environment: dev, timeout: 9m}', 'orders.timeout must be seconds like 540s'],
    ['a timeout over an hour', 'orders: {connector: freshness, environment: dev, timeout: 4000s}', 'orders.timeout must be at most 3600s (the Cloud Functions limit for HTTP functions)'],
    ['an unknown runtime', 'orders: {connector: freshness, environment: dev, runtime: nodejs18}', 'orders.runtime "nodejs18" is not a Cloud Functions Node.js runtime this project deploys; use nodejs24 (or nodejs22)'],
    ['a runtime that is not a name', 'orders: {connector: freshness, environment: dev, runtime: 24}', 'orders.runtime must be a Cloud Functions runtime like nodejs24'],
    ['a bad region', 'orders: {connector: freshness, environment: dev, region: Iowa}', 'orders.region must be a Cloud Functions region like us-central1'],
    ['negative max_instances', 'orders: {connector: freshness, environment: dev, max_instances: -1}', 'orders.max_instances must be a positive whole number'],
    ['an airflow block without its schedule', 'orders: {connector: freshness, environment: dev, airflow: {connector_id: c1}}', 'orders.airflow.schedule is required: a cron expression or an Airflow preset like @daily'],
    ['a function that is not a mapping', 'orders: freshness', 'orders must be a mapping with connector and environment'],
  ])('explains %s', (_label, text, message) => {
    expect(problem(text)).toBe(`deploy.yaml: ${message}`);
  });

  it('reports every problem of the file at once', () => {
    expect(problem('a: {connector: nope, environment: dev}\nb: {connector: freshness}\n')).toBe(
      'deploy.yaml: a.connector "nope" is not a connector folder; known connectors: freshness, monitoring, replication; b.environment is required: dev, prod, ... (the CircleCI context fivetran-<environment>)',
    );
  });

  it('names an invalid name, an unknown connector, a bad value and a bad runtime of one function in one message', () => {
    expect(problem('1st: {connector: nope, environment: Dev, runtime: nodejs20, regoin: x}\nok: {connector: freshness, environment: dev}\n')).toBe(
      [
        'deploy.yaml: function name "1st" is invalid: use letters, digits, - and _, starting with a letter, at most 63 characters',
        '1st.environment must be lowercase letters, digits and -, starting with a letter (like dev or prod)',
        '1st has unknown key "regoin" (allowed: connector, function, environment, region, memory, timeout, runtime, service_account, max_instances, response_cap_bytes, airflow, env)',
        '1st.connector "nope" is not a connector folder; known connectors: freshness, monitoring, replication',
        '1st.runtime "nodejs20" was decommissioned on 2026-10-30 (Cloud Functions no longer deploys it); use nodejs24 (or nodejs22)',
      ].join('; '),
    );
  });

  describe('function entries (function: a folder under functions/)', () => {
    const withFunctions = (text: string) => parseDeployConfig(text, CONNECTORS, 'deploy.yaml', {functions: ['fivetran-webhooks']});
    const refused = (text: string) => {
      try {
        withFunctions(text);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error(`expected deploy.yaml to be refused:\n${text}`);
    };

    it('parses one with its env of values and Secret Manager secrets', () => {
      expect(withFunctions('hooks: {function: fivetran-webhooks, environment: prod, env: {ALERT_EMAIL_TO: ops@acme.com, FIVETRAN_WEBHOOK_SECRET: {secret: hook-secret}}}')).toEqual([
        {name: 'hooks', function: 'fivetran-webhooks', environment: 'prod', env: {ALERT_EMAIL_TO: 'ops@acme.com', FIVETRAN_WEBHOOK_SECRET: {secret: 'hook-secret'}}},
      ]);
    });

    it.each([
      ['both connector and function', 'f: {connector: freshness, function: fivetran-webhooks, environment: dev}', 'f has both connector and function; an entry deploys one: keep connector for a Fivetran connector, function for a folder under functions/'],
      ['an unknown function folder', 'f: {function: hooks, environment: dev}', 'f.function "hooks" is not a folder under functions/; known functions: fivetran-webhooks'],
      ['a secret written as a value', 'f: {function: fivetran-webhooks, environment: dev, env: {FIVETRAN_WEBHOOK_SECRET: abc}}', 'f.env.FIVETRAN_WEBHOOK_SECRET holds a secret, which deploy.yaml must not: store it in Secret Manager and write FIVETRAN_WEBHOOK_SECRET: {secret: <secret name>}'],
      ['a database URL written as a value', 'f: {function: fivetran-webhooks, environment: dev, env: {ALERT_LEDGER_DATABASE_URL: "postgres://u:p@h/d"}}', 'f.env.ALERT_LEDGER_DATABASE_URL holds a secret, which deploy.yaml must not: store it in Secret Manager and write ALERT_LEDGER_DATABASE_URL: {secret: <secret name>}'],
      ['a variable the deploy sets', 'f: {function: fivetran-webhooks, environment: dev, env: {FUNCTION_MEMORY_MB: "1"}}', 'f.env.FUNCTION_MEMORY_MB is set by the deploy itself; remove it'],
      ['a lowercase variable', 'f: {function: fivetran-webhooks, environment: dev, env: {smtp_host: x}}', 'f.env.smtp_host is not a variable name; use capital letters, digits and _'],
      ['an airflow block', 'f: {function: fivetran-webhooks, environment: dev, airflow: {schedule: "@daily"}}', 'f.airflow applies to connector entries only; remove it from this function entry'],
      ['env on a connector entry', 'f: {connector: freshness, environment: dev, env: {A: b}}', 'f.env applies to function entries only; a connector\'s settings are its Fivetran connection\'s secrets'],
    ])('refuses %s in one line', (_name, text, message) => {
      expect(refused(text)).toBe(`deploy.yaml: ${message}`);
    });

    it('is refused by the commands that need a connector, and served by serve', () => {
      const root = makeProject({'connectors/freshness/index.ts': 'export {};\n', 'functions/fivetran-webhooks/index.ts': 'export {};\n', 'deploy.yaml': 'hooks: {function: fivetran-webhooks, environment: prod}\n'});
      expect(() => resolveTarget(root, 'hooks', 'sync')).toThrow('hooks deploys functions/fivetran-webhooks, which is not a Fivetran connector; sync works on connector entries of deploy.yaml only');
      expect(resolveTarget(root, 'hooks', 'serve', {functions: true})).toMatchObject({functionName: 'hooks', entry: {function: 'fivetran-webhooks'}});
    });
  });

  it('names every YAML error with its line', () => {
    expect(problem('a: {connector: freshness, environment: dev}\na: {connector: freshness, environment: prod}\nb: {connector: freshness, environment: dev}\nb: {connector: freshness, environment: dev}\n')).toBe(
      'deploy.yaml is not valid YAML: line 2: Map keys must be unique (a function is defined twice; names must be unique); line 4: Map keys must be unique (a function is defined twice; names must be unique)',
    );
  });

  describe('runtimes, by the date deploy.yaml is read on', () => {
    const at = (text: string, now: string) => parseDeployConfig(text, CONNECTORS, 'deploy.yaml', {now: new Date(now)});
    const refusal = (text: string, now: string) => {
      try {
        at(text, now);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    const fn = (runtime: string) => `f: {connector: freshness, environment: dev, runtime: ${runtime}}`;

    it('accepts nodejs22 and nodejs24 today, and defaults to nodejs24', () => {
      expect(at(fn('nodejs22'), '2026-12-03')[0]!.runtime).toBe('nodejs22');
      expect(at(fn('nodejs24'), '2026-12-03')[0]!.runtime).toBe('nodejs24');
      expect(at('f: {connector: freshness, environment: dev}', '2026-12-03')[0]!.runtime).toBeUndefined();
      expect(DEPLOY_DEFAULTS.runtime).toBe('nodejs24');
    });

    it('accepts nodejs20 until its decommission date and refuses it from then on, saying what to use', () => {
      expect(refusal(fn('nodejs20'), '2026-10-29T23:59:59Z')).toBe('accepted');
      expect(refusal(fn('nodejs20'), '2026-10-30T00:00:00Z')).toBe(
        'deploy.yaml: f.runtime "nodejs20" was decommissioned on 2026-10-30 (Cloud Functions no longer deploys it); use nodejs24 (or nodejs22)',
      );
      expect(refusal(fn('nodejs22'), '2027-11-01')).toBe('deploy.yaml: f.runtime "nodejs22" was decommissioned on 2027-10-31 (Cloud Functions no longer deploys it); use nodejs24');
    });

    it('refuses nodejs26 while it is in preview, with the reason', () => {
      expect(refusal(fn('nodejs26'), '2026-12-03')).toBe(
        "deploy.yaml: f.runtime \"nodejs26\" is in preview on Cloud Functions (no deprecation schedule, no SLA, and gcloud's GA track refuses it); use nodejs24 (or nodejs22)",
      );
    });
  });

  it('refuses YAML that is not a mapping of functions, with the line of a syntax error', () => {
    expect(problem('- orders\n- billing\n')).toBe('deploy.yaml must be a mapping of function names to {connector, environment}; found a list');
    expect(problem('orders: {connector: freshness, environment: dev}\nbilling: [oops\n')).toMatch(/^deploy\.yaml line 3 is not valid YAML: /);
    expect(problem('orders: {connector: freshness, environment: dev}\norders: {connector: freshness, environment: prod}\n')).toBe(
      'deploy.yaml line 2 is not valid YAML: Map keys must be unique (a function is defined twice; names must be unique)',
    );
  });
});

describe('deploy settings', () => {
  it('has the documented defaults', () => {
    expect(DEPLOY_DEFAULTS).toEqual({region: 'us-central1', memory: '256Mi', timeout: '540s', runtime: 'nodejs24'});
    expect(memoryMb(undefined)).toBe(256);
    expect(timeoutSeconds(undefined)).toBe(540);
  });

  it('reads memory in Mi, Gi, MB or a bare number of MB, and timeouts with or without s', () => {
    expect([memoryMb('512Mi'), memoryMb('1Gi'), memoryMb('2G'), memoryMb('128MB'), memoryMb(1024)]).toEqual([512, 1024, 2048, 128, 1024]);
    expect([timeoutSeconds('300s'), timeoutSeconds('60'), timeoutSeconds(120)]).toEqual([300, 60, 120]);
  });
});

describe('the project on disk', () => {
  it('finds the root from any folder inside it, and refuses a folder outside any project', () => {
    const root = makeProject({'connectors/freshness/index.ts': 'export {};\n'});
    expect(projectRoot(path.join(root, 'connectors', 'freshness'))).toBe(root);
    const outside = mkdtempSync(path.join(tmpdir(), 'fivetran-nowhere-'));
    made.push(outside);
    expect(() => projectRoot(outside)).toThrow(/no fivetran project found at or above .*; run this inside the repository/);
  });

  it('lists connector folders with an index.ts and a valid name only', () => {
    const root = makeProject({
      'connectors/freshness/index.ts': 'export {};\n',
      'connectors/monitoring/index.ts': 'export {};\n',
      'connectors/Bad-Name/index.ts': 'export {};\n',
      'connectors/draft/README.md': '# not yet\n',
    });
    expect(listConnectorNames(root)).toEqual(['freshness', 'monitoring']);
  });

  it('loads deploy.yaml against the connector folders, and says how to create a missing one', () => {
    const root = makeProject({'connectors/freshness/index.ts': 'export {};\n'});
    expect(() => loadDeployConfig(root)).toThrow('deploy.yaml not found; create it with one entry per function, e.g. "my-function: {connector: freshness, environment: dev}"');
    writeFileSync(path.join(root, 'deploy.yaml'), 'orders: {connector: freshness, environment: dev}\nbilling: {connector: billing, environment: dev}\n');
    expect(() => loadDeployConfig(root)).toThrow('deploy.yaml: billing.connector "billing" is not a connector folder; known connectors: freshness');
  });

  it('resolves a function name or a connector name to the connector to run', () => {
    const root = makeProject({'connectors/freshness/index.ts': 'export {};\n', 'deploy.yaml': 'orders-freshness: {connector: freshness, environment: dev}\n'});
    expect(resolveTarget(root, 'orders-freshness', 'sync')).toMatchObject({functionName: 'orders-freshness', connector: 'freshness', entry: {environment: 'dev'}});
    expect(resolveTarget(root, 'freshness', 'sync')).toEqual({functionName: 'freshness', connector: 'freshness'});
    expect(() => resolveTarget(root, 'billing', 'sync')).toThrow('"billing" is neither a function in deploy.yaml (orders-freshness) nor a connector (freshness)');
  });
});
