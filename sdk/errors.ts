// The errors a connector can raise, each with the HTTP status and errorType the Function adapter answers
// with. One place (toErrorResponse) maps them; connectors throw the class that says who must act.

/** Base class: `status` is the HTTP status, `errorType` the machine-readable kind, `message` one line. */
export class ConnectorError extends Error {
  readonly status: number = 500;
  readonly errorType: string = 'ConnectorError';
  /** true when trying again later may succeed without anyone changing anything */
  readonly retriable: boolean = false;
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request itself is malformed: not POST, not JSON, not an object, wrong field types. */
export class RequestError extends ConnectorError {
  override readonly status = 400;
  override readonly errorType = 'InvalidRequest';
}

/** The secrets fail validation; the message names every bad key and what it expects (never a value). */
export class SecretsError extends ConnectorError {
  override readonly status = 400;
  override readonly errorType = 'InvalidSecrets';
}

/** The configuration is valid in shape but wrong for this source (an unknown table, a bad query). */
export class ConfigError extends ConnectorError {
  override readonly status = 400;
  override readonly errorType = 'InvalidConfiguration';
}

/** The source refused us in a way only a person can fix: bad credentials, missing permission. */
export class AuthError extends ConnectorError {
  override readonly status = 500;
  override readonly errorType = 'AuthenticationFailed';
}

/** The source failed or could not be reached. `retriable` says whether a later call may succeed. */
export class SourceError extends ConnectorError {
  override readonly status = 500;
  override readonly errorType: string = 'SourceError';
  override readonly retriable: boolean;
  constructor(message: string, options?: {cause?: unknown; retriable?: boolean}) {
    super(message, options);
    this.retriable = options?.retriable ?? false;
  }
}

/**
 * The call reached its deadline before it could answer with progress. The message names what the connector
 * was waiting for when it says so (it throws with that message when `ctx.signal` aborts). Retriable: the next
 * call starts again from the same state.
 */
export class DeadlineError extends SourceError {
  override readonly errorType = 'DeadlineExceeded';
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, {...options, retriable: true});
  }
}

/** The reason `ctx.signal` carries when the call's deadline has come: stop, and say what was blocking. */
export class DeadlineReached extends Error {
  override name = 'DeadlineReached';
}

/** A bug in a connector: it broke the protocol (a delete without its primary key, say). */
export class ProtocolError extends ConnectorError {
  override readonly status = 500;
  override readonly errorType = 'ProtocolError';
}

/** Errors that a person must fix before the next sync can succeed (a Partner SDK `Task`). */
export function needsUserAction(error: unknown): boolean {
  return error instanceof SecretsError || error instanceof ConfigError || error instanceof AuthError;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** The JSON body and status every failure is answered with: no stack trace, one line. */
export function toErrorResponse(error: unknown, connectorName: string): {status: number; body: {errorMessage: string; errorType: string}} {
  if (error instanceof ConnectorError) {
    return {status: error.status, body: {errorMessage: oneLine(error.message), errorType: error.errorType}};
  }
  return {
    status: 500,
    body: {errorMessage: oneLine(`${connectorName} failed unexpectedly: ${errorMessage(error)}`), errorType: 'InternalError'},
  };
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
