// ./fivetran deploy: bundles each selected function of deploy.yaml and deploys it with
// `gcloud functions deploy`, several at a time. One failure does not stop the others; the summary names
// what was deployed (with its trigger URL) and what failed (with gcloud's message), and the exit code is
// non-zero if anything failed. --dry-run builds the bundles and prints the exact commands instead.
import {execFileSync, spawn} from 'node:child_process';
import {accessSync, constants, mkdirSync, statSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import {DEPLOY_DEFAULTS, loadDeployConfig, memoryMb, timeoutSeconds, type DeployFunction} from '../project/deploy-yaml.js';
import {projectRoot} from '../project/root.js';
import {deprecationWarning} from '../project/runtimes.js';
import {DEFAULT_RESPONSE_CAP_BYTES, MALLOC_ENVIRONMENT} from '../sdk/budget.js';
import {buildFunctionBundles, bundleDir, type FunctionBundle} from './bundle.js';
import {CliConfigError, CommandFailed, UsageError} from './errors.js';
import {recordDeploy} from './lock.js';
import {isInteractive, ProgressLine} from './output.js';

export const DEFAULT_CONCURRENCY = 4;
export const GCLOUD_INSTALL_HINT = 'gcloud not found on PATH; install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install) or use --dry-run';
/** What a dry run without a project prints, so the command still runs once the variable is set. */
export const PROJECT_FROM_ENVIRONMENT = '$GCLOUD_PROJECT';

export interface DeployOptions {
  /** function names from deploy.yaml */
  functions?: string[];
  all?: boolean;
  /** deploy the functions of this environment (deploy.yaml `environment`) */
  environment?: string;
  dryRun?: boolean;
  concurrency?: number;
  /** Google Cloud project; default GCLOUD_PROJECT */
  project?: string;
  json?: boolean;
  cwd?: string;
  /** environment variables: PATH to find gcloud, GCLOUD_PROJECT; default process.env */
  env?: NodeJS.ProcessEnv;
  /** the date runtimes are checked against (refused when decommissioned, warned about near deprecation); default now */
  now?: Date;
  /** progress redrawn on a terminal; default: when stderr is a terminal outside CI */
  interactive?: boolean;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export interface DeployResult {
  function: string;
  /** the connector it runs; absent for a function entry, which has `folder` */
  connector?: string;
  /** a function entry's folder (functions/<name>) */
  folder?: string;
  environment: string;
  status: 'deployed' | 'built' | 'failed';
  /** the gcloud command, shell-quoted */
  command?: string;
  /** the trigger URL gcloud reported */
  url?: string;
  /** why it failed: the bundler's or gcloud's message */
  error?: string;
  /** full gcloud output of a failed deploy */
  log?: string;
  /** the function's runtime is deprecated within 90 days (or already is): what to change */
  warning?: string;
  bundleBytes?: number;
  durationMs: number;
}

/**
 * The environment variables of a deployed function: a connector's budgets (sdk/budget.ts) and malloc's
 * settings (MALLOC_ENVIRONMENT); a function entry's
 * `env` values (its secrets come from Secret Manager instead: secretEnvironment).
 */
export function functionEnvironment(fn: DeployFunction): Record<string, string> {
  if (fn.function !== undefined) {
    return Object.fromEntries(Object.entries(fn.env ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  }
  return {
    FUNCTION_MEMORY_MB: String(memoryMb(fn.memory)),
    FUNCTION_TIMEOUT_SECONDS: String(timeoutSeconds(fn.timeout)),
    FIVETRAN_RESPONSE_CAP_BYTES: String(fn.response_cap_bytes ?? DEFAULT_RESPONSE_CAP_BYTES),
    ...MALLOC_ENVIRONMENT,
  };
}

/** A function entry's variables read from Secret Manager: NAME → `secret:latest`. */
function secretEnvironment(fn: DeployFunction): Record<string, string> {
  return Object.fromEntries(Object.entries(fn.env ?? {}).flatMap(([name, value]) => (typeof value === 'string' ? [] : [[name, `${value.secret}:latest`]])));
}

/**
 * `NAME=value,...` for --set-env-vars / --set-secrets; when a value holds a comma, gcloud's other-delimiter
 * form (`^|^A=x,y|B=z`) keeps it one value.
 */
function gcloudPairs(pairs: Record<string, string>): string {
  const entries = Object.entries(pairs).map(([key, value]) => `${key}=${value}`);
  if (!entries.some((entry) => entry.includes(','))) return entries.join(',');
  if (entries.some((entry) => entry.includes('|'))) throw new CliConfigError('an env value holds both "," and "|", which gcloud --set-env-vars cannot pass; change the value');
  return `^|^${entries.join('|')}`;
}

/** `--memory` as gcloud reads it, in the same MiB the function is told (FUNCTION_MEMORY_MB). */
function gcloudMemory(memory: DeployFunction['memory']): string {
  if (typeof memory === 'string' && /^\d+(Mi|Gi)$/.test(memory)) return memory;
  return `${memoryMb(memory)}Mi`;
}

/** The argument list of `gcloud` deploying one function (without the `gcloud` itself). */
export function gcloudDeployArgs(fn: DeployFunction, project: string, source = `build/functions/${fn.name}`): string[] {
  const env = functionEnvironment(fn);
  const secrets = secretEnvironment(fn);
  // the variables and secrets replace the function's own, so deploy.yaml stays the whole truth
  const environment = [
    Object.keys(env).length ? `--set-env-vars=${gcloudPairs(env)}` : '--clear-env-vars',
    ...(fn.function !== undefined ? [Object.keys(secrets).length ? `--set-secrets=${gcloudPairs(secrets)}` : '--clear-secrets'] : []),
  ];
  return [
    'functions',
    'deploy',
    fn.name,
    '--gen2',
    `--runtime=${fn.runtime ?? DEPLOY_DEFAULTS.runtime}`,
    `--region=${fn.region ?? DEPLOY_DEFAULTS.region}`,
    `--source=${source}`,
    '--entry-point=main',
    '--trigger-http',
    // Fivetran calls a connector with a Google identity (its service account, granted the invoker role); its
    // webhook deliveries carry none, so a function entry is public and refuses what its signature check refuses
    fn.function !== undefined ? '--allow-unauthenticated' : '--no-allow-unauthenticated',
    `--memory=${gcloudMemory(fn.memory)}`,
    `--timeout=${timeoutSeconds(fn.timeout)}s`,
    ...environment,
    ...(fn.max_instances !== undefined ? [`--max-instances=${fn.max_instances}`] : []),
    ...(fn.service_account ? [`--service-account=${fn.service_account}`] : []),
    `--project=${project}`,
    '--quiet',
  ];
}

/** One argument as a POSIX shell reads it back unchanged. */
export function shellQuote(arg: string): string {
  if (arg === `--project=${PROJECT_FROM_ENVIRONMENT}`) return `--project="${PROJECT_FROM_ENVIRONMENT}"`;
  if (/^[A-Za-z0-9_\-+=.,/:@%]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/** Which functions a deploy covers: named ones, --all, or those of --env (usage errors otherwise). */
export function selectFunctions(functions: readonly DeployFunction[], options: Pick<DeployOptions, 'functions' | 'all' | 'environment'>): DeployFunction[] {
  const names = options.functions ?? [];
  if (names.length && options.all) throw new UsageError('name functions or pass --all, not both');
  if (!names.length && !options.all && !options.environment) {
    throw new UsageError('say what to deploy: function names from deploy.yaml, --all, or --env ENV');
  }
  const known = functions.map((fn) => fn.name);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length) {
    throw new CliConfigError(`unknown function${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; deploy.yaml defines: ${known.join(', ') || '(none)'}`);
  }
  let selected = names.length ? functions.filter((fn) => names.includes(fn.name)) : [...functions];
  if (options.environment) {
    const environments = [...new Set(functions.map((fn) => fn.environment))].sort();
    if (!environments.includes(options.environment)) {
      throw new CliConfigError(`no function has environment "${options.environment}" in deploy.yaml; environments: ${environments.join(', ') || '(none)'}`);
    }
    const outside = selected.filter((fn) => fn.environment !== options.environment);
    if (names.length && outside.length) {
      throw new CliConfigError(`${outside.map((fn) => `${fn.name} is in environment ${fn.environment}`).join(', ')}, not ${options.environment}`);
    }
    selected = selected.filter((fn) => fn.environment === options.environment);
  }
  return selected;
}

/** The executable `name` in PATH, or null. */
export function findOnPath(name: string, pathVariable: string | undefined): string | null {
  for (const dir of (pathVariable ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here; try the next directory
    }
  }
  return null;
}

/** gcloud's own explanation from its output: the `ERROR:` lines, else the last line. */
export function gcloudMessage(output: string, exitCode: number | null): string {
  const lines = output.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  const first = lines.findIndex((line) => line.startsWith('ERROR:'));
  const text = first >= 0 ? lines.slice(first).join(' ') : (lines.at(-1) ?? '');
  const message = text || `gcloud exited with code ${exitCode ?? 'unknown'} without a message`;
  return message.length > 600 ? `${message.slice(0, 600)}...` : message;
}

/** The trigger URL from gcloud's description of the deployed function. */
function triggerUrl(output: string): string | undefined {
  return /^\s*url:\s*(https:\/\/\S+)/m.exec(output)?.[1] ?? /^\s*uri:\s*(https:\/\/\S+)/m.exec(output)?.[1];
}

function runGcloud(gcloud: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Promise<{code: number | null; output: string}> {
  return new Promise((resolve) => {
    const child = spawn(gcloud, args, {cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
    const chunks: Buffer[] = [];
    const partial = {stdout: '', stderr: ''};
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      chunks.push(chunk);
      if (!onLine) return;
      const lines = (partial[stream] + chunk.toString('utf8')).split(/\r?\n/);
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onLine(line);
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    child.on('error', (error) => resolve({code: null, output: `ERROR: could not run ${gcloud}: ${error.message}`}));
    child.on('close', (code) => {
      for (const rest of [partial.stdout, partial.stderr]) if (onLine && rest.trim()) onLine(rest);
      resolve({code, output: Buffer.concat(chunks).toString('utf8')});
    });
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
}

function kilobytes(bytes: number): string {
  return `${Math.round(bytes / 1024)} KiB`;
}

/** The deprecation warning of each runtime the functions use (project/runtimes.ts), and of each function. */
function runtimeWarnings(functions: readonly DeployFunction[], now: Date): {byRuntime: Map<string, string>; byFunction: Map<string, string>} {
  const byRuntime = new Map<string, string>();
  const byFunction = new Map<string, string>();
  for (const fn of functions) {
    const runtime = fn.runtime ?? DEPLOY_DEFAULTS.runtime;
    const warning = deprecationWarning(runtime, now);
    if (!warning) continue;
    byRuntime.set(runtime, warning);
    byFunction.set(fn.name, warning);
  }
  return {byRuntime, byFunction};
}

/** The commit being deployed; none outside a git checkout (nothing is recorded then). */
function headCommit(root: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Deploys (or, with dryRun, builds and prints) the selected functions. Throws CommandFailed if any failed. */
export async function deploy(options: DeployOptions = {}): Promise<DeployResult[]> {
  const root = projectRoot(options.cwd);
  const env = options.env ?? process.env;
  const out = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const err = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new UsageError(`--concurrency ${options.concurrency} must be a whole number from 1 to 64`);
  }
  const now = options.now ?? new Date();
  const selected = selectFunctions(loadDeployConfig(root, undefined, {now}), options);
  if (selected.length === 0) throw new CliConfigError('deploy.yaml defines no functions to deploy');
  const warnings = runtimeWarnings(selected, now);
  for (const [runtime, warning] of warnings.byRuntime) {
    const users = selected.filter((fn) => (fn.runtime ?? DEPLOY_DEFAULTS.runtime) === runtime).map((fn) => fn.name);
    err(`fivetran: warning: ${warning} (used by ${users.join(', ')})\n`);
  }

  const project = options.project ?? env.GCLOUD_PROJECT?.trim();
  let gcloud: string | null = null;
  if (!options.dryRun) {
    gcloud = findOnPath('gcloud', env.PATH);
    if (!gcloud) throw new CliConfigError(GCLOUD_INSTALL_HINT);
    if (!project) throw new CliConfigError('no Google Cloud project: set GCLOUD_PROJECT (or pass --project ID)');
  } else if (!project) {
    err(`fivetran: GCLOUD_PROJECT is not set; the commands below read it from the environment\n`);
  }

  const buildDir = path.join(root, 'build');
  const interactive = options.interactive ?? isInteractive();
  const progress = new ProgressLine(interactive);
  const line = (text: string) => {
    progress.done();
    err(`${text}\n`);
  };
  const started = Date.now();
  progress.update(`building ${selected.length} bundle${selected.length > 1 ? 's' : ''}...`);
  const bundles = await buildFunctionBundles(root, buildDir, selected, (fn, result) => {
    if (result instanceof Error) line(`✗ ${fn.name}: ${result.message}`);
    else if (options.dryRun) line(`built ${path.relative(root, result.dir)} (${result.source}, ${kilobytes(result.bytes)})`);
  });
  progress.done();

  const commandOf = (fn: DeployFunction) => {
    const dir = bundleDir(buildDir, fn.name);
    const relative = path.relative(root, dir);
    const source = relative.startsWith('..') || path.isAbsolute(relative) ? dir : relative.split(path.sep).join('/');
    return gcloudDeployArgs(fn, project ?? PROJECT_FROM_ENVIRONMENT, source);
  };
  const base = (fn: DeployFunction) => {
    const warning = warnings.byFunction.get(fn.name);
    const runs = fn.connector !== undefined ? {connector: fn.connector} : {folder: `functions/${fn.function}`};
    return {function: fn.name, ...runs, environment: fn.environment, ...(warning ? {warning} : {})};
  };
  const failedBuild = (fn: DeployFunction, error: Error): DeployResult => ({...base(fn), status: 'failed', error: error.message, durationMs: Date.now() - started});

  let results: DeployResult[];
  if (options.dryRun) {
    results = selected.map((fn) => {
      const bundle = bundles.get(fn.name)!;
      if (bundle instanceof Error) return failedBuild(fn, bundle);
      const command = shellCommand(['gcloud', ...commandOf(fn)]);
      if (!options.json) out(`${command}\n`);
      return {...base(fn), status: 'built', command, bundleBytes: bundle.bytes, durationMs: Date.now() - started};
    });
  } else {
    const limit = pLimit(concurrency);
    const running = new Set<string>();
    let finished = 0;
    const showProgress = () => {
      if (running.size) progress.update(`deploying: ${finished} of ${selected.length} done; running ${[...running].join(', ')}`);
    };
    const deployOne = async (fn: DeployFunction, bundle: FunctionBundle): Promise<DeployResult> => {
      const args = commandOf(fn);
      const command = shellCommand(['gcloud', ...args]);
      const t0 = Date.now();
      running.add(fn.name);
      if (!interactive) line(`deploying ${fn.name} (${bundle.source}, ${fn.region ?? DEPLOY_DEFAULTS.region}, ${kilobytes(bundle.bytes)})...`);
      showProgress();
      // In CI the log is all there is: show gcloud's own output as it comes, each line under its function.
      const echo = env.CI && !options.json ? (text: string) => line(`[${fn.name}] ${text}`) : undefined;
      const {code, output} = await runGcloud(gcloud!, args, root, env, echo);
      running.delete(fn.name);
      finished++;
      const durationMs = Date.now() - t0;
      let result: DeployResult;
      if (code === 0) {
        result = {...base(fn), status: 'deployed', command, url: triggerUrl(output), bundleBytes: bundle.bytes, durationMs};
        // fivetran.lock.yaml: what is deployed, for connect, status and airflow (no id or commit copied by hand)
        const commit = headCommit(root);
        if (commit) recordDeploy(root, fn.name, {commit, triggerUrl: result.url});
        line(`✓ ${fn.name} deployed in ${seconds(durationMs)}${result.url ? `: ${result.url}` : ''}`);
      } else {
        const logFile = path.join(buildDir, 'deploy-logs', `${fn.name}.log`);
        mkdirSync(path.dirname(logFile), {recursive: true});
        writeFileSync(logFile, `$ ${command}\n${output}`);
        result = {...base(fn), status: 'failed', command, error: gcloudMessage(output, code), log: path.relative(root, logFile), bundleBytes: bundle.bytes, durationMs};
        line(`✗ ${fn.name} failed after ${seconds(durationMs)}: ${result.error} (full output: ${result.log})`);
      }
      showProgress();
      return result;
    };
    results = await Promise.all(
      selected.map((fn) => {
        const bundle = bundles.get(fn.name)!;
        return bundle instanceof Error ? Promise.resolve(failedBuild(fn, bundle)) : limit(() => deployOne(fn, bundle));
      }),
    );
    progress.done();
  }

  const failed = results.filter((r) => r.status === 'failed');
  const succeeded = results.filter((r) => r.status !== 'failed');
  if (options.json) {
    out(JSON.stringify(results, null, 2) + '\n');
  } else if (!options.dryRun) {
    const lines = [`deployed ${succeeded.length} of ${results.length} function${results.length > 1 ? 's' : ''} in ${seconds(Date.now() - started)}`];
    for (const r of succeeded) lines.push(`  ✓ ${r.function}${r.url ? `  ${r.url}` : ''}`);
    for (const r of failed) lines.push(`  ✗ ${r.function}  ${r.error}`);
    out(`${lines.join('\n')}\n`);
  }
  if (failed.length) {
    const what = options.dryRun ? 'bundle' : 'deploy';
    throw new CommandFailed(`${failed.length} of ${results.length} ${what}${results.length > 1 ? 's' : ''} failed: ${failed.map((r) => r.function).join(', ')}`);
  }
  return results;
}

