// ./fivetran demo: every deploy.yaml function end to end on embedded services (emulator/demo.ts); exits
// non-zero when any function failed.
import {runDemo, type DemoResult} from '../emulator/demo.js';
import {CliConfigError, CommandFailed} from './errors.js';

export interface DemoCommandOptions {
  only?: string[];
  cwd?: string;
  write?: (text: string) => void;
}

export async function demo(options: DemoCommandOptions = {}): Promise<DemoResult> {
  let result: DemoResult;
  try {
    result = await runDemo({cwd: options.cwd, only: options.only, write: options.write, handleSignals: true});
  } catch (error) {
    if (error instanceof Error && 'exitCode' in error) throw error;
    throw new CliConfigError(`the demo could not start: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!result.ok) {
    const failed = result.functions.filter((fn) => fn.status === 'failed').map((fn) => fn.function);
    throw new CommandFailed(`demo failed for ${failed.join(', ')}`);
  }
  return result;
}
