// Errors a CLI user can cause. The top level (cli/index.ts) prints their one-line message and exits with
// their code; no stack trace.
//
// One exit-code rule for every command (README, "Exit codes"):
//   0  it did what was asked
//   1  it ran and failed, or what it read was wrong (deploy.yaml, a secrets file, a source, a deploy, a test)
//   2  the command line is wrong: unknown command or option, a missing or invalid argument or option value
//      (commander's own errors too, mapped in cli/index.ts); fix the command and run it again
// Commands that answer through the exit code document codes of their own on top: `ci_config changed` exits
// 1 for "unchanged" (so it never uses 1 for an error: usage errors are 2 already, other failures 2 too),
// `monitor wait` and `monitor quickstart` 3 for a timeout.
import {ProjectConfigError} from '../project/errors.js';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** The command line is wrong: exit 2. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What the command read is wrong (deploy.yaml, a file, the project): exit 1. The project model (project/) throws it too. */
export const CliConfigError = ProjectConfigError;
export type CliConfigError = ProjectConfigError;

/** A command that ran and failed (a sync that broke the protocol, a deploy that failed). */
export class CommandFailed extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_FAILED) {
    super(message);
    this.name = 'CommandFailed';
    this.exitCode = exitCode;
  }
}

/** Every server command says the same when its port is taken. */
export function portInUse(port: number): CliConfigError {
  return new CliConfigError(`port ${port} is in use (another server is listening there); stop it, or pick another port with --port`);
}
