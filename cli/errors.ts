// Errors a CLI user can cause. The top level (cli/index.ts) prints their one-line message and exits with
// their code; no stack trace.

export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export class CliConfigError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'CliConfigError';
  }
}

/** A command that ran and failed (a sync that broke the protocol, a deploy that failed). */
export class CommandFailed extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CommandFailed';
    this.exitCode = exitCode;
  }
}

/** Every server command says the same when its port is taken. */
export function portInUse(port: number): CliConfigError {
  return new CliConfigError(`port ${port} is in use (another server is listening there); stop it, or pick another port with --port`);
}
