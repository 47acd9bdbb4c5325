// Logs in the Partner SDK format: one JSON object a line on stdout with `level` (INFO, WARNING or SEVERE),
// `message` and `message-origin: sdk_connector`. It is a LogSink for the usual Logger, so redaction of secret
// values (applied by the Logger to the whole line before the sink sees it) still holds.
import type {LogSink, Severity} from '../log.js';

export type PartnerSdkLevel = 'INFO' | 'WARNING' | 'SEVERE';

const LEVELS: Record<Severity, PartnerSdkLevel> = {
  DEBUG: 'INFO',
  INFO: 'INFO',
  NOTICE: 'INFO',
  WARNING: 'WARNING',
  ERROR: 'SEVERE',
  CRITICAL: 'SEVERE',
};

// Fields the Logger adds to every line; the Partner SDK format has no place for them.
const ENVELOPE = new Set(['severity', 'message', 'connector', 'sync_id']);

function describeField(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Re-shapes one Logger line (already redacted JSON) into the Partner SDK format. Extra structured fields
 * are kept as `key=value` after the message so nothing a connector logs is lost.
 */
export function toPartnerSdkLine(line: string, severity: Severity): string {
  let message: string;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    const extras = Object.entries(entry)
      .filter(([key, value]) => !ENVELOPE.has(key) && value !== undefined)
      .map(([key, value]) => `${key}=${describeField(value)}`);
    message = [String(entry.message ?? ''), ...extras].join(' ');
  } catch {
    message = line;
  }
  return JSON.stringify({level: LEVELS[severity], message, 'message-origin': 'sdk_connector'});
}

/** A LogSink writing Partner SDK log lines (to stdout by default, as the guide requires). */
export function partnerSdkSink(write: (line: string) => void = (line) => process.stdout.write(line + '\n')): LogSink {
  return (line, severity) => write(toPartnerSdkLine(line, severity));
}
