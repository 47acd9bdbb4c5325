// Structured logs for Cloud Logging: one JSON object a line with `severity`, the connector and the sync_id.
// Every line passes through redaction, so secret values, and passwords written in URLs, never reach
// stdout/stderr whatever a caller logs.

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';

export interface LogEntry {
  severity: Severity;
  message: string;
  [field: string]: unknown;
}

/** Where log lines go; the default writes WARNING and above to stderr, the rest to stdout. */
export type LogSink = (line: string, severity: Severity) => void;

export const defaultSink: LogSink = (line, severity) => {
  const stream = severity === 'ERROR' || severity === 'CRITICAL' || severity === 'WARNING' ? process.stderr : process.stdout;
  stream.write(line + '\n');
};

const ORDER: Record<Severity, number> = {DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4, CRITICAL: 5};

export interface LoggerOptions {
  connector: string;
  syncId?: string;
  /** secret values to scrub from every line */
  redact?: readonly string[];
  sink?: LogSink;
  /** lowest severity written; default INFO, or DEBUG when LOG_LEVEL=DEBUG */
  level?: Severity;
}

export const REDACTED = '[REDACTED]';

// scheme://user:password@ — userinfo holds no whitespace, quote, / ? # @ (RFC 3986), so a match ends inside one URL
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@"'<>\\:]*):([^\s/?#@"'<>\\]+)@/gi;

/** `http://user:pw@host` → `http://user:[REDACTED]@host`, whatever the key or message the URL is in. */
export function redactUrlCredentials(text: string): string {
  return text.includes('://') ? text.replace(URL_USERINFO, `$1$2:${REDACTED}@`) : text;
}

/**
 * Replaces each secret value (and its JSON-escaped form) in `text`, and the password of every URL in it
 * (see redactUrlCredentials); values shorter than 3 characters are left alone.
 */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = redactUrlCredentials(text);
  for (const secret of secrets) {
    if (secret.length < 3) continue;
    out = out.split(secret).join(REDACTED);
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) out = out.split(escaped).join(REDACTED);
  }
  return out;
}

export class Logger {
  readonly connector: string;
  readonly syncId: string | undefined;
  private readonly redactions: string[];
  private readonly sink: LogSink;
  private readonly level: Severity;

  constructor(options: LoggerOptions) {
    this.connector = options.connector;
    this.syncId = options.syncId;
    this.redactions = [...(options.redact ?? [])].sort((a, b) => b.length - a.length);
    this.sink = options.sink ?? defaultSink;
    const envLevel = process.env.LOG_LEVEL?.toUpperCase();
    this.level = options.level ?? (envLevel && envLevel in ORDER ? (envLevel as Severity) : 'INFO');
  }

  /** A logger that also scrubs `values` (added once secrets are known). */
  withRedactions(values: readonly string[]): Logger {
    return new Logger({connector: this.connector, syncId: this.syncId, redact: [...this.redactions, ...values], sink: this.sink, level: this.level});
  }

  redact(text: string): string {
    return redactText(text, this.redactions);
  }

  log(severity: Severity, message: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[severity] < ORDER[this.level]) return;
    const entry: LogEntry = {severity, message, connector: this.connector, ...(this.syncId ? {sync_id: this.syncId} : {}), ...fields};
    let line: string;
    try {
      line = JSON.stringify(entry, jsonSafe);
    } catch {
      line = JSON.stringify({severity, message, connector: this.connector, sync_id: this.syncId});
    }
    this.sink(this.redact(line), severity);
  }

  debug(message: string, fields?: Record<string, unknown>): void { this.log('DEBUG', message, fields); }
  info(message: string, fields?: Record<string, unknown>): void { this.log('INFO', message, fields); }
  warn(message: string, fields?: Record<string, unknown>): void { this.log('WARNING', message, fields); }
  error(message: string, fields?: Record<string, unknown>): void { this.log('ERROR', message, fields); }
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return {name: value.name, message: value.message, stack: value.stack};
  return value;
}
