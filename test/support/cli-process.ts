// Runs ./fivetran's entry (cli/index.ts) in a child process, as a user's shell would, for tests of what a
// person sees: the exact stderr, the exit code, a long-running command's ready line and its Ctrl-C.
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TSX = path.join(REPO, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = {...process.env, ...extra};
  for (const name of ['VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID']) delete env[name];
  return env;
}

/** Starts `./fivetran <args>` without waiting for it. */
export function startCli(args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', TSX, path.join(REPO, 'cli', 'index.ts'), ...args], {cwd: options.cwd ?? REPO, env: options.env ?? cliEnv()});
}

/** The output and exit of a started command, once it ended. */
export function finished(child: ChildProcessWithoutNullStreams): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({code, signal, stdout, stderr})));
}

export function runCli(args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): Promise<CliRun> {
  return finished(startCli(args, options));
}

/** Resolves with everything written to stderr up to the first line matching `pattern`. */
export function waitForLine(child: ChildProcessWithoutNullStreams, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; the command wrote: ${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.split('\n').some((line) => pattern.test(line))) {
        clearTimeout(timer);
        child.stderr.off('data', onData);
        child.stdout.off('data', onData);
        resolve(seen);
      }
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`the command ended (code ${code}) before a line matching ${pattern}: ${seen}`));
    });
  });
}
