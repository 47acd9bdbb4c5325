// The one error the project model throws: what the project's own files say is wrong (deploy.yaml, a connector
// folder, a runtime). The CLI knows it as CliConfigError (cli/errors.ts re-exports it) and exits 1 with its
// message, no stack trace.

export class ProjectConfigError extends Error {
  /** EXIT_FAILED in cli/errors.ts: what the command read is wrong */
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'CliConfigError';
  }
}
