// The file `monitor alerts` keeps its alert ledger in (connectors/monitoring/lifecycle.ts says what it holds):
// beside the local warehouse by default, written atomically after each run.
import {existsSync, mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {emptyLedger, LedgerSchema, type AlertLedger} from '../../connectors/monitoring/public.js';
import {CliConfigError} from '../errors.js';

export const DEFAULT_LEDGER_FILE = path.join('.fivetran', 'monitor', 'alerts.json');

export function readLedger(file: string): AlertLedger {
  if (!existsSync(file)) return emptyLedger();
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliConfigError(`the alert ledger ${file} is not valid JSON (${(error as Error).message}); delete it to start over (every open alert is then posted as new)`);
  }
  const parsed = LedgerSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CliConfigError(`the alert ledger ${file} is not one this command wrote (${issue.path.join('.') || 'top level'}: ${issue.message}); delete it to start over`);
  }
  return parsed.data;
}

export function writeLedger(file: string, ledger: AlertLedger): void {
  mkdirSync(path.dirname(file), {recursive: true});
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(ledger, null, 2)}\n`);
  renameSync(temporary, file);
}
