// Tests of ./fivetran ci_config update|check|changed on throwaway projects (and throwaway git repositories).
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {parse as parseYaml} from 'yaml';
import {afterAll, describe, expect, it} from 'vitest';
import {checkCiConfig, functionChanged, renderCiConfig, updateCiConfig} from './ci-config.js';
import {loadDeployConfig} from './project.js';

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
  it('gives every function a deploy job in the context fivetran-<environment>, on main only, after the tests', () => {
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
      expect(deploy!.params.requires).toEqual(expect.arrayContaining(['test', 'ci_config_check']));
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
    expect(invocations(config).map((inv) => inv.name)).toEqual(['test', 'ci_config_check', 'deploy-a', 'deploy-b']);
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

  it('tests on Node 20 with a PostgreSQL service container that DATABASE_URL points at', () => {
    const {config} = renderFleet();
    const [node, postgres] = config.jobs.test!.docker!;
    expect(node!.image).toMatch(/^cimg\/node:20\./);
    expect(postgres!.image).toMatch(/postgres/);
    const url = new URL(node!.environment!.DATABASE_URL!);
    expect(url.hostname).toBe('localhost');
    expect(url.port).toBe('5432');
    expect(decodeURIComponent(url.username)).toBe(postgres!.environment!.POSTGRES_USER);
    expect(decodeURIComponent(url.password)).toBe(postgres!.environment!.POSTGRES_PASSWORD);
    expect(commands(config, 'test')).toContain('./fivetran test');
    expect(commands(config, 'ci_config_check')).toContain('./fivetran ci_config check');
  });

  it('deploys with the context service key, only when the function changed', () => {
    const {config} = renderFleet();
    const script = commands(config, 'deploy').join('\n');
    expect(config.jobs.deploy!.parameters).toHaveProperty('function');
    expect(script).toContain('echo "$GCLOUD_SERVICE_KEY" > "$HOME/gcloud-service-key.json"');
    expect(script).toContain('gcloud auth activate-service-account --key-file="$HOME/gcloud-service-key.json"');
    expect(script).toContain('gcloud config set project "$GCLOUD_PROJECT"');
    expect(script).toContain('./fivetran ci_config changed "<< parameters.function >>" --base "${base:-HEAD~1}"');
    expect(script).toContain('base="<< pipeline.git.base_revision >>"');
    expect(script).toContain('./fivetran deploy "<< parameters.function >>"');
    // the changed check comes before installing gcloud, so unchanged functions end early
    expect(script.indexOf('ci_config changed')).toBeLessThan(script.indexOf('google-cloud-cli'));
  });

  it.each([
    {status: 0, base: 'f00d', expected: {exit: 0, halted: false, base: 'f00d'}},
    {status: 1, base: '', expected: {exit: 0, halted: true, base: 'HEAD~1'}},
    {status: 2, base: 'f00d', expected: {exit: 2, halted: false, base: 'f00d'}},
  ])('its skip step, run by bash -eo pipefail as CircleCI does, turns changed exit $status into exit $expected.exit', ({status, base, expected}) => {
    const {config} = renderFleet();
    const step = config.jobs.deploy!.steps.find((s) => (s as {run?: {name?: string}}).run?.name?.startsWith('Skip unless')) as {run: {command: string}};
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-ci-step-'));
    made.push(dir);
    // stand-ins for ./fivetran and circleci-agent that record how they were called
    write(dir, 'fivetran', `#!/bin/sh\necho "$@" > "${dir}/fivetran.args"\nexit ${status}\n`);
    write(dir, 'bin/circleci-agent', `#!/bin/sh\necho "$@" > "${dir}/agent.args"\n`);
    execFileSync('chmod', ['+x', path.join(dir, 'fivetran'), path.join(dir, 'bin/circleci-agent')]);
    const script = step.run.command.replaceAll('<< parameters.function >>', 'orders-freshness').replaceAll('<< pipeline.git.base_revision >>', base);

    const result = spawnSync('bash', ['-eo', 'pipefail', '-c', script], {cwd: dir, env: {...process.env, PATH: `${dir}/bin:${process.env.PATH}`}, encoding: 'utf8'});

    expect(result.status).toBe(expected.exit);
    expect(readFileSync(path.join(dir, 'fivetran.args'), 'utf8').trim()).toBe(`ci_config changed orders-freshness --base ${expected.base}`);
    expect(existsSync(path.join(dir, 'agent.args')) && readFileSync(path.join(dir, 'agent.args'), 'utf8').trim()).toBe(expected.halted ? 'step halt' : false);
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
    expect(diff.join('')).toMatch(/^\+\s+name: deploy-tenant-health$/m);
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
