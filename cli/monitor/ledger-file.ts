// Where `monitor alerts` keeps its alert ledger (connectors/monitoring/lifecycle.ts says what it holds): a JSON
// file beside the local warehouse by default, or, given a postgres:// URL, the table the fivetran-webhooks
// function shares (connectors/monitoring/ledger-store.ts), so polling and push dedupe against the same alerts.
import path from 'node:path';
import {ledgerStoreAt, readLedgerFile, type AlertLedger, type LedgerStore} from '../../connectors/monitoring/public.js';
import {ConfigError} from '../../sdk/errors.js';
import {CliConfigError} from '../errors.js';

export const DEFAULT_LEDGER_FILE = path.join('.fivetran', 'monitor', 'alerts.json');

export function readLedger(file: string): AlertLedger {
  try {
    return readLedgerFile(file);
  } catch (error) {
    throw error instanceof ConfigError ? new CliConfigError(error.message) : error;
  }
}

/** The store `--ledger` names: a postgres:// URL, or a file relative to cwd. */
export function ledgerStore(location: string, cwd: string): LedgerStore {
  const isUrl = /^postgres(ql)?:\/\//i.test(location);
  const asCliError = (error: unknown) => (error instanceof ConfigError ? new CliConfigError(error.message) : error);
  let store: LedgerStore;
  try {
    store = ledgerStoreAt(isUrl ? location : path.resolve(cwd, location), '--ledger');
  } catch (error) {
    throw asCliError(error);
  }
  // a ledger that is not one this project wrote is the user's to fix: exit 1 with its one line
  return {label: store.label, update: (change) => store.update(change).catch((error: unknown) => Promise.reject(asCliError(error)))};
}
