// Tests of ./fivetran ci_config update|check|changed on throwaway projects (and throwaway git repositories).
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {parse as parseYaml} from 'yaml';
import {createRequire} from 'node:module';
import {afterAll, describe, expect, it} from 'vitest';
import {loadDeployConfig} from '../project/deploy-yaml.js';
import {CI_CONFIG_FILE, checkCiConfig, functionChanged, renderCiConfig, updateCiConfig} from './ci-config.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, {recursive: true, force: true});
});

/** A project with connectors/<name>/index.ts for each name, sdk/, package.json and the given files. */
function makeProject(files: Record<string, string>, connectors = ['freshness', 'monitoring', 'replication']): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fivetran-ci-config-'));
  made.push(root);
  const all: Record<string, string> = {
    'package.json': JSON.stringify({name: 'fleet', private: true, type: 'module'}, null, 2),
    'package-lock.json': '{}\n',
    'sdk/index.ts': 'export const version = 1;\n',
    ...Object.fromEntries(connectors.map((name) => [`connectors/${name}/index.ts`, `export const name = '${name}';\nexport const main = () => name;\n`])),
    ...files,
  };
  for (const [file, text] of Object.entries(all)) write(root, file, text);
  return root;
}

function write(root: string, file: string, text: string): void {
  mkdirSync(path.dirname(path.join(root, file)), {recursive: true});
  writeFileSync(path.join(root, file), text);
}

const FLEET = `
# the fleet: several functions in dev, staging and prod
orders-freshness: {connector: freshness, environment: dev}
customer-freshness:
  connector: freshness
  environment: prod
replication-orders: {connector: replication, environment: staging, memory: 1Gi}
replication_big: {connector: replication, environment: prod, timeout: 900s}
fleet-health: {connector: monitoring, environment: staging}
on: {connector: monitoring, environment: dev}
`;

interface Invocation {
  job: string;
  name: string;
  params: Record<string, unknown>;
}

interface CircleConfig {
  version: number;
  jobs: Record<string, {docker?: {image: string; environment?: Record<string, string>}[]; executor?: string; steps: unknown[]; parameters?: Record<string, unknown>}>;
  executors: Record<string, {docker: {image: string}[]}>;
  workflows: Record<string, {jobs: (string | Record<string, Record<string, unknown>>)[]}>;
}

function invocations(config: CircleConfig): Invocation[] {
  return Object.values(config.workflows).flatMap((workflow) =>
    workflow.jobs.map((entry) => {
      if (typeof entry === 'string') return {job: entry, name: entry, params: {}};
      const [job, params] = Object.entries(entry)[0]!;
      return {job, name: typeof params.name === 'string' ? params.name : job, params};
    }),
  );
}

/** Every `run` command of a job, as text. */
function commands(config: CircleConfig, job: string): string[] {
  return config.jobs[job]!.steps.flatMap((step) => {
    const run = (step as {run?: string | {command: string}}).run;
    return run === undefined ? [] : [typeof run === 'string' ? run : run.command];
  });
}

function renderFleet(deployYaml = FLEET): {text: string; config: CircleConfig; root: string} {
  const root = makeProject({'deploy.yaml': deployYaml});
  const text = renderCiConfig(loadDeployConfig(root));
  return {text, config: parseYaml(text) as CircleConfig, root};
}

describe('renderCiConfig', () => {
  it('gives every function a deploy job in the context fivetran-<environment>, on main only, after the bundle job (itself after the tests)', () => {
    const {config, root} = renderFleet();
    const byName = new Map(invocations(config).map((inv) => [inv.name, inv]));
    const functions = loadDeployConfig(root);
    expect(functions).toHaveLength(6);
    for (const fn of functions) {
      const deploy = byName.get(`deploy-${fn.name}`);
      expect(deploy, `deploy job of ${fn.name}`).toBeDefined();
      expect(deploy!.job).toBe('deploy');
      expect(deploy!.params.function).toBe(fn.name);
      expect(deploy!.params.context).toBe(`fivetran-${fn.environment}`);
      expect(deploy!.params.filters).toEqual({branches: {only: 'main'}});
      expect(deploy!.params.requires).toEqual(expect.arrayContaining(['bundle']));
    }
    expect(invocations(config).filter((inv) => inv.job === 'deploy')).toHaveLength(functions.length);
  });

  it('makes prod deploys wait for an approval job and no others', () => {
    const {config} = renderFleet();
    const all = invocations(config);
    const approval = all.find((inv) => inv.name === 'approve-prod');
    expect(approval?.params.type).toBe('approval');
    expect(approval?.params.filters).toEqual({branches: {only: 'main'}});
    const requiring = all.filter((inv) => (inv.params.requires as string[] | undefined)?.includes('approve-prod')).map((inv) => inv.name);
    expect(requiring.sort()).toEqual(['deploy-customer-freshness', 'deploy-replication_big']);
  });

  it('has no approval job when no function is in prod', () => {
    const {config} = renderFleet('a: {connector: freshness, environment: dev}\nb: {connector: monitoring, environment: staging}\n');
    expect(invocations(config).map((inv) => inv.name)).toEqual(['test', 'ci_config_check', 'bundle', 'deploy-a', 'connect-a', 'deploy-b', 'connect-b']);
  });

  it('only requires jobs the workflow defines, and only invokes jobs the config defines', () => {
    const {config} = renderFleet();
    const all = invocations(config);
    const names = new Set(all.map((inv) => inv.name));
    for (const inv of all) {
      for (const required of (inv.params.requires as string[] | undefined) ?? []) expect(names, `${inv.name} requires ${required}`).toContain(required);
      if (inv.params.type !== 'approval') expect(Object.keys(config.jobs)).toContain(inv.job);
    }
  });

  it("tests and bundles on Node 24, nodejs24's Node.js, with a PostgreSQL service container that DATABASE_URL points at", () => {
    const {config} = renderFleet();
    const [node, postgres] = config.jobs.test!.docker!;
    expect(node!.image).toMatch(/^cimg\/node:24\.\d+-browsers$/);
    expect(config.executors.node!.docker[0]!.image).toMatch(/^cimg\/node:24\.\d+$/);
    expect(config.jobs.bundle!.executor).toBe('node');
    expect(postgres!.image).toMatch(/postgres/);
    const url = new URL(node!.environment!.DATABASE_URL!);
    expect(url.hostname).toBe('localhost');
    expect(url.port).toBe('5432');
    expect(decodeURIComponent(url.username)).toBe(postgres!.environment!.POSTGRES_USER);
    expect(decodeURIComponent(url.password)).toBe(postgres!.environment!.POSTGRES_PASSWORD);
    expect(commands(config, 'test')).toContain('./fivetran test');
    expect(commands(config, 'ci_config_check')).toContain('./fivetran ci_config check');
  });

  it('bundles on main after the tests, and deploys each function from the pinned gcloud image in its context', () => {
    const {config} = renderFleet();
    const all = invocations(config);
    expect(all.find((inv) => inv.name === 'bundle')?.params).toEqual({requires: ['test', 'ci_config_check'], filters: {branches: {only: 'main'}}});
    for (const inv of all.filter((i) => i.job === 'deploy')) expect(inv.params.requires).toContain('bundle');
    expect(config.jobs.deploy!.parameters).toHaveProperty('function');
    expect(config.jobs.deploy!.docker).toEqual([{image: expect.stringMatching(/^google\/cloud-sdk:\d+\.\d+\.\d+(-slim)?$/)}]);
    expect(config.jobs.bundle).not.toHaveProperty('context');
    const everything = Object.keys(config.jobs).flatMap((job) => commands(config, job)).join('\n');
    expect(everything).not.toMatch(/curl|wget|tar -x/);
    expect(commands(config, 'bundle').join('\n')).not.toContain('GCLOUD_SERVICE_KEY');
  });

  /** The run step of a job whose name starts with `name`, with the parameters CircleCI would substitute. */
  function stepScript(config: CircleConfig, job: string, name: string, values: Record<string, string>): string {
    const step = config.jobs[job]!.steps.find((s) => (s as {run?: {name?: string}}).run?.name?.startsWith(name)) as {run: {command: string}} | undefined;
    expect(step, `${job} step ${name}`).toBeDefined();
    return Object.entries(values).reduce((script, [key, value]) => script.replaceAll(`<< ${key} >>`, value), step!.run.command);
  }

  /** A folder with stand-ins for ./fivetran, gcloud and circleci-agent that record how they were called. */
  function standIns(fivetran: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-ci-step-'));
    made.push(dir);
    write(dir, 'fivetran', `#!/bin/sh\n${fivetran}\n`);
    write(dir, 'bin/circleci-agent', `#!/bin/sh\necho "$@" >> "${dir}/agent.args"\n`);
    // gcloud notes its arguments, and the key file's content while it is being activated
    write(dir, 'bin/gcloud', `#!/bin/sh\necho "$@" >> "${dir}/gcloud.args"\ncase "$*" in *--key-file=*) cat "\${3#--key-file=}" > "${dir}/key.seen"; echo "\${3#--key-file=}" > "${dir}/key.path";; esac\n`);
    execFileSync('chmod', ['+x', path.join(dir, 'fivetran'), path.join(dir, 'bin/circleci-agent'), path.join(dir, 'bin/gcloud')]);
    return dir;
  }
  const read = (dir: string, file: string) => (existsSync(path.join(dir, file)) ? readFileSync(path.join(dir, file), 'utf8') : '');
  const bash = (dir: string, script: string, env: Record<string, string> = {}) =>
    spawnSync('bash', ['-eo', 'pipefail', '-c', script], {cwd: dir, env: {...process.env, PATH: `${dir}/bin:${process.env.PATH}`, ...env}, encoding: 'utf8'});

  it.each([
    {base: 'f00d', expectedBase: 'f00d'},
    {base: '', expectedBase: 'HEAD~1'},
  ])('its bundle step, run by bash -eo pipefail as CircleCI does, writes the deploy command of each changed function only (base $base)', ({base, expectedBase}) => {
    const {config} = renderFleet();
    // changed: orders-freshness changed (0), the others did not (1); deploy --dry-run prints the command
    const dir = standIns(
      'echo "$@" >> calls\ncase "$1 $2 $3" in "ci_config changed orders-freshness") exit 0;; "ci_config changed"*) exit 1;; esac\n[ "$1 $3" = "deploy --dry-run" ] && echo "gcloud functions deploy $2 --project=\\"\\$GCLOUD_PROJECT\\" --quiet"\nexit 0',
    );
    const result = bash(dir, stepScript(config, 'bundle', 'Bundle the functions', {'pipeline.git.base_revision': base}));
    expect(result.status, result.stderr).toBe(0);
    const calls = read(dir, 'calls').trim().split('\n');
    expect(calls.filter((c) => c.startsWith('ci_config changed')).sort()).toEqual(
      ['customer-freshness', 'fleet-health', 'on', 'orders-freshness', 'replication-orders', 'replication_big'].map((fn) => `ci_config changed ${fn} --base ${expectedBase}`),
    );
    expect(calls.filter((c) => c.startsWith('deploy'))).toEqual(['deploy orders-freshness --dry-run']);
    expect(readdirSync(path.join(dir, 'build/deploy'))).toEqual(['orders-freshness.sh']);
    expect(read(dir, 'build/deploy/orders-freshness.sh')).toBe('gcloud functions deploy orders-freshness --project="$GCLOUD_PROJECT" --quiet\n');
    expect(existsSync(path.join(dir, 'build/functions'))).toBe(true);
  });

  it('its bundle step fails when ci_config changed cannot decide (exit 2), rather than skipping', () => {
    const {config} = renderFleet();
    const dir = standIns('exit 2');
    expect(bash(dir, stepScript(config, 'bundle', 'Bundle the functions', {'pipeline.git.base_revision': 'f00d'})).status).toBe(2);
  });

  it("its deploy step activates the context's key, runs the function's command, and removes the key and the credentials however it ends", () => {
    const {config} = renderFleet();
    for (const outcome of ['deployed', 'failed'] as const) {
      const dir = standIns('exit 0');
      write(dir, 'build/deploy/orders-freshness.sh', `gcloud functions deploy orders-freshness --project="$GCLOUD_PROJECT" --quiet\n${outcome === 'failed' ? 'exit 3\n' : ''}`);
      const result = bash(dir, stepScript(config, 'deploy', 'Deploy', {'parameters.function': 'orders-freshness', 'parameters.region': 'europe-west1'}), {
        GCLOUD_SERVICE_KEY: '{"type": "service_account"}', GCLOUD_PROJECT: 'acme-data', FIVETRAN_SERVICE_ACCOUNT: 'g-fleet@fivetran-production.iam.gserviceaccount.com',
      });
      expect(result.status, result.stderr).toBe(outcome === 'failed' ? 3 : 0);
      expect(read(dir, 'key.seen')).toBe('{"type": "service_account"}');
      expect(existsSync(read(dir, 'key.path').trim()), 'the key file is removed').toBe(false);
      expect(read(dir, 'gcloud.args').trim().split('\n')).toEqual([
        `auth activate-service-account --key-file=${read(dir, 'key.path').trim()}`,
        'config set project acme-data',
        'functions deploy orders-freshness --project=acme-data --quiet',
        // after a deploy: the trigger URL for the connect job, and Fivetran's service account as invoker
        ...(outcome === 'deployed'
          ? ['functions describe orders-freshness --gen2 --region=europe-west1 --format=value(serviceConfig.uri)', 'functions add-invoker-policy-binding orders-freshness --region=europe-west1 --member=serviceAccount:g-fleet@fivetran-production.iam.gserviceaccount.com']
          : []),
        'auth revoke --all --quiet',
      ]);
    }
  });

  it('its connect job runs ./fivetran connect with the URL the deploy job kept, and skips without a deploy or without Fivetran credentials', () => {
    const {config} = renderFleet();
    const gate = (env: Record<string, string>, deployed: boolean) => {
      const dir = standIns('exit 0');
      if (deployed) write(dir, 'build/deploy/orders-freshness.url', 'https://orders-freshness-x1-ew.a.run.app\n');
      return {dir, result: bash(dir, stepScript(config, 'connect', 'Connect', {'parameters.function': 'orders-freshness'}), env)};
    };
    const credentials = {FIVETRAN_API_KEY: 'k', FIVETRAN_API_SECRET: 's', FIVETRAN_GROUP_ID: 'g'};
    const notDeployed = gate(credentials, false);
    expect(notDeployed.result.stdout).toContain('orders-freshness was not deployed by this pipeline; skipping');
    expect(read(notDeployed.dir, 'agent.args').trim()).toBe('step halt');
    const noCredentials = gate({FIVETRAN_API_KEY: ''}, true);
    expect(noCredentials.result.stdout).toContain('set FIVETRAN_API_KEY, FIVETRAN_API_SECRET and FIVETRAN_GROUP_ID in the context');
    const ready = gate(credentials, true);
    expect(ready.result.status).toBe(0);
    expect(read(ready.dir, 'agent.args')).toBe('');
    const dir = standIns('echo "$@" > connect.args');
    write(dir, 'build/deploy/orders-freshness.url', 'https://orders-freshness-x1-ew.a.run.app\n');
    expect(bash(dir, stepScript(config, 'connect', './fivetran connect', {'parameters.function': 'orders-freshness'})).status).toBe(0);
    expect(read(dir, 'connect.args').trim()).toBe('connect orders-freshness --url https://orders-freshness-x1-ew.a.run.app --skip-grant --secrets-from FIVETRAN_SECRETS_');
    expect(read(dir, 'gcloud.args')).toBe('');
  });

  it('its deploy step ends the job early, touching no credentials, for a function the bundle job found unchanged', () => {
    const {config} = renderFleet();
    const dir = standIns('exit 0');
    const result = bash(dir, stepScript(config, 'deploy', 'Deploy', {'parameters.function': 'fleet-health'}), {GCLOUD_SERVICE_KEY: 'key'});
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('fleet-health unchanged; skipping');
    expect(read(dir, 'agent.args').trim()).toBe('step halt');
    expect(read(dir, 'gcloud.args')).toBe('');
  });

  it('deploys a function entry (functions/<name>/) like a connector, but gives it no connect job: it has no Fivetran connection', () => {
    const root = makeProject({'functions/fivetran-webhooks/index.ts': 'export const main = () => 1;\n', 'deploy.yaml': 'hooks: {function: fivetran-webhooks, environment: prod}\norders: {connector: freshness, environment: dev}\n'});
    const config = parseYaml(renderCiConfig(loadDeployConfig(root))) as CircleConfig;
    const names = invocations(config).map((inv) => inv.name);
    expect(names).toEqual(expect.arrayContaining(['deploy-hooks', 'deploy-orders', 'connect-orders']));
    expect(names).not.toContain('connect-hooks');
    expect(invocations(config).find((inv) => inv.name === 'deploy-hooks')!.params).toMatchObject({context: 'fivetran-prod', requires: ['bundle', 'approve-prod']});
  });

  it('keeps a function named like a YAML 1.1 boolean a string', () => {
    const {text} = renderFleet();
    const config = parseYaml(text, {version: '1.1'}) as CircleConfig;
    expect(invocations(config).find((inv) => inv.name === 'deploy-on')?.params.function).toBe('on');
  });

  it('is deterministic: the same text whatever the order of deploy.yaml', () => {
    const first = renderFleet().text;
    const shuffled = `
on: {connector: monitoring, environment: dev}
fleet-health: {connector: monitoring, environment: staging}
replication_big: {connector: replication, environment: prod, timeout: 900s}
replication-orders: {connector: replication, environment: staging, memory: 1Gi}
customer-freshness: {connector: freshness, environment: prod}
orders-freshness: {connector: freshness, environment: dev}
`;
    expect(renderFleet(shuffled).text).toBe(first);
    expect(renderFleet().text).toBe(first);
    expect(first.startsWith('# generated by ./fivetran ci_config update')).toBe(true);
    const deployOrder = invocations(parseYaml(first) as CircleConfig).filter((inv) => inv.job === 'deploy').map((inv) => inv.name);
    expect(deployOrder).toEqual([...deployOrder].sort());
  });
});

describe('ci_config update and check', () => {
  const quiet = {stdout: () => undefined, stderr: () => undefined};

  it('writes .circleci/config.yml, and --dry-run prints it without writing', async () => {
    const root = makeProject({'deploy.yaml': FLEET});
    const printed: string[] = [];
    const dry = await updateCiConfig({cwd: root, dryRun: true, stdout: (text) => printed.push(text), stderr: () => undefined});
    expect(existsSync(path.join(root, '.circleci/config.yml'))).toBe(false);
    expect(printed.join('')).toBe(dry.text);

    const written = await updateCiConfig({cwd: path.join(root, 'connectors'), ...quiet});
    expect(readFileSync(path.join(root, '.circleci/config.yml'), 'utf8')).toBe(dry.text);
    expect(written.changed).toBe(true);
    expect((await updateCiConfig({cwd: root, ...quiet})).changed).toBe(false);
  });

  it('check passes when the file is current', async () => {
    const root = makeProject({'deploy.yaml': FLEET});
    await updateCiConfig({cwd: root, ...quiet});
    await expect(checkCiConfig({cwd: root, stderr: () => undefined})).resolves.toBeUndefined();
  });

  it('check fails naming the missing, extra and changed deploy jobs after deploy.yaml changes', async () => {
    const root = makeProject({'deploy.yaml': FLEET});
    await updateCiConfig({cwd: root, ...quiet});
    write(root, 'deploy.yaml', FLEET.replace('orders-freshness: {connector: freshness, environment: dev}', 'orders-freshness: {connector: freshness, environment: prod}')
      .replace('fleet-health: {connector: monitoring, environment: staging}', 'tenant-health: {connector: monitoring, environment: staging}'));
    const diff: string[] = [];

    const error = await checkCiConfig({cwd: root, stderr: (text) => diff.push(text)}).catch((e: unknown) => e as Error);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('.circleci/config.yml is stale');
    expect((error as Error).message).toContain('job deploy-tenant-health for function tenant-health is missing');
    expect((error as Error).message).toContain('job deploy-fleet-health for function fleet-health is extra (not in deploy.yaml)');
    expect((error as Error).message).toMatch(/job deploy-orders-freshness changed \(context fivetran-dev → fivetran-prod, requires .*approve-prod/);
    expect((error as Error).message).toContain('run ./fivetran ci_config update');
    // the diff shows the jobs that go (its first lines; the rest is summarised)
    expect(diff.join('')).toMatch(/^-\s+name: deploy-fleet-health$/m);
  });

  it('check fails when the file was edited by hand or is missing', async () => {
    const root = makeProject({'deploy.yaml': FLEET});
    await expect(checkCiConfig({cwd: root, stderr: () => undefined})).rejects.toThrow(/\.circleci\/config\.yml does not exist; run \.\/fivetran ci_config update/);
    const {text} = await updateCiConfig({cwd: root, ...quiet});
    write(root, '.circleci/config.yml', text.replace('# generated by', '# tweaked, generated by'));
    await expect(checkCiConfig({cwd: root, stderr: () => undefined})).rejects.toThrow(/the header or comments were edited by hand/);
    write(root, '.circleci/config.yml', text.replace('./fivetran test', './fivetran test --skip-lint'));
    await expect(checkCiConfig({cwd: root, stderr: () => undefined})).rejects.toThrow(/the jobs definitions differ/);
  });

  it('refuses an invalid deploy.yaml with its message', async () => {
    const root = makeProject({'deploy.yaml': 'fn: {connector: nowhere, environment: dev}\n'});
    await expect(updateCiConfig({cwd: root, ...quiet})).rejects.toThrow(/fn\.connector "nowhere" is not a connector folder/);
  });
});

describe('ci_config changed', () => {
  const gitEnv = {...process.env, GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@example.com', GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@example.com'};
  const git = (root: string, ...args: string[]) => execFileSync('git', args, {cwd: root, env: gitEnv, encoding: 'utf8'}).trim();
  const DEPLOY = 'orders-freshness: {connector: freshness, environment: dev}\nfleet-health: {connector: monitoring, environment: prod}\n';

  /** A git repository holding a project, with one initial commit. */
  function repo(): string {
    const root = makeProject({'deploy.yaml': DEPLOY, 'README.md': '# fleet\n'});
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '.');
    git(root, 'commit', '-q', '-m', 'initial');
    return root;
  }

  function commit(root: string, files: Record<string, string>, message: string): string {
    for (const [file, text] of Object.entries(files)) write(root, file, text);
    git(root, 'add', '.');
    git(root, 'commit', '-q', '-m', message);
    return git(root, 'rev-parse', 'HEAD');
  }

  const decide = async (root: string, functionName: string, base?: string) => functionChanged({cwd: root, functionName, base});

  it('deploys a function whose connector changed and skips the others', async () => {
    const root = repo();
    commit(root, {'connectors/freshness/query.ts': 'export const q = 1;\n'}, 'freshness: a new query');

    expect(await decide(root, 'orders-freshness', 'HEAD~1')).toEqual({deploy: true, reason: expect.stringContaining('connectors/freshness/query.ts changed since HEAD~1')});
    expect(await decide(root, 'fleet-health', 'HEAD~1')).toEqual({deploy: false, reason: expect.stringContaining('unchanged since HEAD~1')});
  });

  it('deploys every function when sdk/ or the lockfile changed', async () => {
    const root = repo();
    const base = git(root, 'rev-parse', 'HEAD');
    commit(root, {'sdk/index.ts': 'export const version = 2;\n'}, 'sdk: version 2');
    expect((await decide(root, 'orders-freshness', base)).deploy).toBe(true);
    expect((await decide(root, 'fleet-health', base)).reason).toContain('sdk/index.ts changed');

    const next = git(root, 'rev-parse', 'HEAD');
    commit(root, {'package-lock.json': '{"lockfileVersion": 3}\n'}, 'dependencies');
    expect((await decide(root, 'fleet-health', next)).reason).toContain('package-lock.json changed');
  });

  it("deploys a function entry when its functions/ folder, or the connector's public.ts code it bundles, changed", async () => {
    const root = repo();
    commit(
      root,
      {
        'connectors/monitoring/public.ts': 'export const rule = 1;\n',
        'functions/hooks/index.ts': "import {rule} from '../../connectors/monitoring/public.js';\nexport const main = () => rule;\n",
        'deploy.yaml': `${DEPLOY}hooks: {function: hooks, environment: prod}\n`,
      },
      'a function entry',
    );
    const base = git(root, 'rev-parse', 'HEAD');
    commit(root, {'functions/hooks/index.ts': "import {rule} from '../../connectors/monitoring/public.js';\nexport const main = () => rule + 1;\n"}, 'hooks: changed');
    expect(await decide(root, 'hooks', base)).toEqual({deploy: true, reason: expect.stringContaining('functions/hooks/index.ts changed')});
    expect((await decide(root, 'orders-freshness', base)).deploy).toBe(false);
    const next = git(root, 'rev-parse', 'HEAD');
    commit(root, {'connectors/monitoring/public.ts': 'export const rule = 2;\n'}, 'monitoring: changed');
    expect(await decide(root, 'hooks', next)).toEqual({deploy: true, reason: expect.stringContaining('connectors/monitoring/public.ts, which its bundle contains, changed')});
  });

  it('deploys a function when a file outside its folder that its bundle imports changed', async () => {
    const root = repo();
    commit(root, {'lib/window.ts': 'export const hours = 24;\n', 'connectors/freshness/index.ts': "import {hours} from '../../lib/window.js';\nexport const main = () => hours;\n"}, 'freshness: shared window');
    commit(root, {'lib/window.ts': 'export const hours = 48;\n'}, 'a longer window');

    expect(await decide(root, 'orders-freshness')).toEqual({deploy: true, reason: expect.stringContaining('lib/window.ts, which its bundle contains, changed')});
    expect(await decide(root, 'fleet-health')).toEqual({deploy: false, reason: expect.stringContaining('unchanged since HEAD~1')});
  });

  it('looks at every commit since the base, not only the last one', async () => {
    const root = repo();
    const base = git(root, 'rev-parse', 'HEAD');
    commit(root, {'connectors/monitoring/rules.ts': 'export const r = 1;\n'}, 'monitoring rules');
    commit(root, {'README.md': '# fleet, documented\n'}, 'docs');
    expect((await decide(root, 'fleet-health', base)).deploy).toBe(true);
    expect((await decide(root, 'fleet-health', 'HEAD~1')).deploy).toBe(false);
  });

  it('deploys only the function whose deploy.yaml entry changed, and a new function', async () => {
    const root = repo();
    commit(root, {'deploy.yaml': DEPLOY.replace('environment: prod}', 'environment: prod, memory: 512Mi}') + 'orders-backfill: {connector: freshness, environment: dev}\n'}, 'more memory');

    expect(await decide(root, 'fleet-health')).toEqual({deploy: true, reason: expect.stringContaining('its deploy.yaml entry changed')});
    expect(await decide(root, 'orders-backfill')).toEqual({deploy: true, reason: expect.stringContaining('new in deploy.yaml')});
    expect((await decide(root, 'orders-freshness')).deploy).toBe(false);
  });

  it('deploys everything when the commit message says [deploy all]', async () => {
    const root = repo();
    commit(root, {'README.md': '# fleet\n\nredeploy\n'}, 'rotate the runtime\n\n[deploy all]');
    expect(await decide(root, 'orders-freshness', 'HEAD~1')).toEqual({deploy: true, reason: expect.stringContaining('[deploy all]')});
    expect((await decide(root, 'fleet-health', 'HEAD~1')).deploy).toBe(true);
  });

  it('falls back to HEAD~1 for an empty base and deploys when the base is unknown', async () => {
    const root = repo();
    commit(root, {'README.md': '# fleet v2\n'}, 'docs');
    expect(await decide(root, 'orders-freshness', '')).toEqual({deploy: false, reason: expect.stringContaining('since HEAD~1')});
    expect(await decide(root, 'orders-freshness', '0123456789abcdef0123456789abcdef01234567')).toEqual({deploy: true, reason: expect.stringContaining('deploying to be safe')});
  });

  it('answers the deploy job through the exit code of ./fivetran ci_config changed: 0 deploy, 1 skip, 2 error', () => {
    const repoRoot = fileURLToPath(new URL('..', import.meta.url));
    const root = repo();
    commit(root, {'connectors/monitoring/rules.ts': 'export const r = 2;\n'}, 'monitoring rules');
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', path.join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'), path.join(repoRoot, 'cli/index.ts'), 'ci_config', 'changed', ...args], {cwd: root, encoding: 'utf8'});

    const deploy = cli('fleet-health', '--base', '');
    const skip = cli('orders-freshness', '--base', 'HEAD~1');
    const broken = cli('billing');

    expect([deploy.status, deploy.stderr.trim()]).toEqual([0, 'fivetran: fleet-health: connectors/monitoring/rules.ts changed since HEAD~1']);
    expect(skip.status).toBe(1);
    expect(skip.stderr).toMatch(/^fivetran: orders-freshness: unchanged since HEAD~1/);
    expect(broken.status).toBe(2);
    expect(broken.stderr.trim()).toBe('fivetran: "billing" is not a function in deploy.yaml (fleet-health, orders-freshness)');
  });

  it('fails with exit code 2 (not 1, which means skip) for a function not in deploy.yaml', async () => {
    const root = repo();
    const error = (await decide(root, 'nope').catch((e: unknown) => e)) as Error & {exitCode: number};
    expect(error.message).toMatch(/"nope" is not a function in deploy.yaml \(fleet-health, orders-freshness\)/);
    expect(error.exitCode).toBe(2);
  });
});

// CircleCI's own parser (@circleci/circleci-config-parser, an alpha built on @circleci/circleci-config-sdk) turns
// a config into the SDK's objects, validating each component against the JSON schemas it ships. Two of those
// schemas refuse constructs CircleCI documents and runs, which this config uses; the test rewrites those into
// what the parser accepts after checking them with the parser's own schema, and parses the rest as it is:
// - its Docker executor schema is a one-item tuple (`additionalItems: false`), so a service container (the
//   test job's PostgreSQL) is refused: each further image is validated with the schema of the first one;
// - its step schema takes a reusable command only as a mapping (`- install: {}`) or an orb command, not as a
//   bare name (`- install`): bare names of the config's own commands become mappings.
type ConfigParser = typeof import('@circleci/circleci-config-parser');
const configParser = createRequire(import.meta.url)('@circleci/circleci-config-parser') as ConfigParser;

interface RawConfig {
  commands?: Record<string, unknown>;
  jobs: Record<string, {docker?: unknown[]; steps: unknown[]} & Record<string, unknown>>;
  workflows: Record<string, {jobs: unknown[]}>;
}

/** The config in the forms the alpha parser accepts, and the problems of what was rewritten. */
function forAlphaParser(config: RawConfig): {config: RawConfig; problems: string[]} {
  const copy = structuredClone(config);
  const problems: string[] = [];
  const dockerItems = (configParser.schemas.executor.DockerExecutableSchema as {properties: {docker: {items: object[]}}}).properties.docker.items;
  const validator = configParser.Validator.getInstance();
  const commands = Object.keys(copy.commands ?? {});
  for (const [name, job] of Object.entries(copy.jobs)) {
    if (job.docker && job.docker.length > 1) {
      for (const image of job.docker.slice(1)) {
        if (!validator.validate(dockerItems[0]!, image)) problems.push(`job ${name}: service container ${JSON.stringify(image)}: ${validator.errorsText(validator.errors)}`);
      }
      job.docker = job.docker.slice(0, 1);
    }
    job.steps = job.steps.map((step) => (typeof step === 'string' && commands.includes(step) ? {[step]: {}} : step));
  }
  return {config: copy, problems};
}

function parseWithCircleCI(text: string) {
  const {config, problems} = forAlphaParser(parseYaml(text) as RawConfig);
  expect(problems).toEqual([]);
  return configParser.parseConfig(config);
}

describe(`the repository's ${CI_CONFIG_FILE}`, () => {
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const text = readFileSync(path.join(repoRoot, CI_CONFIG_FILE), 'utf8');

  it('is what ./fivetran ci_config update writes from deploy.yaml', async () => {
    await expect(checkCiConfig({cwd: repoRoot, stderr: () => undefined})).resolves.toBeUndefined();
  });

  it("parses with CircleCI's own config parser into its jobs, commands, executors and workflow", () => {
    const parsed = parseWithCircleCI(text);
    const raw = parseYaml(text) as RawConfig;
    expect(parsed.jobs.map((job) => job.name).sort()).toEqual(Object.keys(raw.jobs).sort());
    expect(parsed.workflows.map((workflow) => workflow.name)).toEqual(Object.keys(raw.workflows));
    expect(parsed.workflows[0]!.jobs).toHaveLength(raw.workflows['test-and-deploy']!.jobs.length);
    // the SDK writes it back out as a config of its own
    expect(parseYaml(parsed.stringify())).toMatchObject({version: 2.1, workflows: {'test-and-deploy': {jobs: expect.any(Array)}}});
  });

  it.each([
    ['a workflow invoking a job no one defines', (c: RawConfig) => c.workflows['test-and-deploy']!.jobs.push('nowhere'), /workflow_job:nowhere/],
    ['a step calling a command no one defines', (c: RawConfig) => c.jobs.test!.steps.push('nowhere'), /reused_command:nowhere/],
    ['a job on an executor no one defines', (c: RawConfig) => (c.jobs.bundle!.executor = 'nowhere'), /job:bundle\/reused_executor/],
    ['a workspace persisted without paths', (c: RawConfig) => c.jobs.bundle!.steps.push({persist_to_workspace: {root: '.'}}), /job:bundle\/steps\/persist_to_workspace/],
  ])("is refused by that parser when it has %s (so the check above has teeth)", (_label, breakIt, message) => {
    const broken = parseYaml(text) as RawConfig;
    breakIt(broken);
    expect(() => configParser.parseConfig(forAlphaParser(broken).config)).toThrow(message);
  });

  it('refuses a malformed service container through the schema of the first image', () => {
    const broken = parseYaml(text) as RawConfig;
    broken.jobs.test!.docker!.push({image: 'cimg/redis:7.2', enviroment: {}});
    expect(forAlphaParser(broken).problems).toEqual([expect.stringMatching(/^job test: service container .*must NOT have additional properties/)]);
  });
});
