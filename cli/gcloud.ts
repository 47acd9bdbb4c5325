// Runs gcloud for the commands that read or change one Cloud Function or secret (connect, its secrets from
// Secret Manager): the output on success, a one-line CommandFailed with gcloud's own message otherwise.
import {spawn} from 'node:child_process';
import {CliConfigError, CommandFailed} from './errors.js';
import {findOnPath, gcloudMessage, shellCommand} from './deploy.js';

export const GCLOUD_MISSING = 'gcloud not found on PATH; install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)';

export interface GcloudRun {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** `gcloud <args>`; resolves with stdout, or throws CommandFailed naming the command and gcloud's error. */
export async function runGcloud(args: string[], {env, cwd}: GcloudRun, what = shellCommand(['gcloud', ...args])): Promise<string> {
  const gcloud = findOnPath('gcloud', env.PATH);
  if (!gcloud) throw new CliConfigError(GCLOUD_MISSING);
  const {code, stdout, stderr} = await new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => {
    const child = spawn(gcloud, args, {cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => resolve({code: null, stdout: '', stderr: `ERROR: could not run ${gcloud}: ${error.message}`}));
    child.on('close', (exit) => resolve({code: exit, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8')}));
  });
  if (code !== 0) throw new CommandFailed(`${what} failed: ${gcloudMessage(`${stdout}\n${stderr}`, code)}`);
  return stdout;
}

/** `--project=<GCLOUD_PROJECT>` when the variable is set, else nothing (gcloud's configured project). */
export function projectFlag(env: NodeJS.ProcessEnv): string[] {
  const project = env.GCLOUD_PROJECT?.trim();
  return project ? [`--project=${project}`] : [];
}
