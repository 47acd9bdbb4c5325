// ./fivetran test: lint, type-check, then the whole vitest suite (what CI runs). Stops at the first failure.
import {spawn} from 'node:child_process';
import path from 'node:path';
import {projectRoot} from '../project/root.js';
import {CommandFailed} from './errors.js';

export interface TestOptions {
  cwd?: string;
  /** extra arguments for vitest (file filters, -t pattern) */
  vitestArgs?: string[];
  skipLint?: boolean;
}

function run(root: string, bin: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(root, 'node_modules', '.bin', bin), args, {cwd: root, stdio: 'inherit'});
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

export async function runTests(options: TestOptions = {}): Promise<void> {
  const root = projectRoot(options.cwd);
  const steps: [string, string, string[]][] = [];
  if (!options.skipLint) {
    steps.push(['lint', 'eslint', ['.']]);
    steps.push(['type-check', 'tsc', ['--noEmit', '-p', 'tsconfig.json']]);
  }
  steps.push(['tests', 'vitest', ['run', ...(options.vitestArgs ?? [])]]);
  for (const [label, bin, args] of steps) {
    process.stderr.write(`fivetran test: ${label}...\n`);
    const code = await run(root, bin, args);
    if (code !== 0) throw new CommandFailed(`${label} failed (exit ${code}); see the output above`, code);
  }
}
