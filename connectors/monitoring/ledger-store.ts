// The alert ledger's stores (lifecycle.ts's LedgerStore): a JSON file for one process (`monitor alerts`, a
// local `serve` of the fivetran-webhooks function) and a PostgreSQL table for everything that may run at once
// (function instances, and `monitor alerts --ledger postgres://...` dedupes against the same open alerts).
//
// PostgreSQL: one row per ledger name in "fivetran_alert_ledger" (created if missing), read with SELECT ... FOR
// UPDATE inside a transaction, so a second delivery of the same failure waits for the first to commit and then
// finds the alert open. The row is created first with INSERT ... ON CONFLICT DO NOTHING, so there is always a
// row to lock (two first deliveries would otherwise both read "no ledger").
import {existsSync, mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {ConfigError} from '../../sdk/index.js';
import {connect, describePostgresError, postgresConfigFromUrl, quoteIdent} from '../../sdk/postgres.js';
import {emptyLedger, LedgerSchema, type AlertLedger, type LedgerStore} from './lifecycle.js';

const LEDGER_TABLE = 'fivetran_alert_ledger';

function parseLedger(value: unknown, where: string): AlertLedger {
  const parsed = LedgerSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`the alert ledger ${where} is not one this project wrote (${issue.path.join('.') || 'top level'}: ${issue.message}); delete it to start over`);
  }
  return parsed.data;
}

export function readLedgerFile(file: string): AlertLedger {
  if (!existsSync(file)) return emptyLedger();
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`the alert ledger ${file} is not valid JSON (${(error as Error).message}); delete it to start over (every open alert is then posted as new)`);
  }
  return parseLedger(value, file);
}

function writeLedgerFile(file: string, ledger: AlertLedger): void {
  mkdirSync(path.dirname(file), {recursive: true});
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(ledger, null, 2)}\n`);
  renameSync(temporary, file);
}

/**
 * Updates of one file in this process, one after the other. Module level because requests to a served
 * function each open the store: it holds no data, only the order (a file is for one process; PostgreSQL for more).
 */
const fileQueues = new Map<string, Promise<unknown>>();

export function fileLedgerStore(file: string): LedgerStore {
  const absolute = path.resolve(file);
  return {
    label: file,
    async update(change) {
      const previous = fileQueues.get(absolute) ?? Promise.resolve();
      const turn = previous.catch(() => undefined).then(async () => {
        const {ledger, result} = await change(readLedgerFile(absolute));
        if (ledger) writeLedgerFile(absolute, ledger);
        return result;
      });
      fileQueues.set(absolute, turn);
      try {
        return await turn;
      } finally {
        if (fileQueues.get(absolute) === turn) fileQueues.delete(absolute);
      }
    },
  };
}

class ChangeFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('the ledger change failed');
  }
}

/** The ledger as one row of `LEDGER_TABLE` (`name` tells several fleets sharing a database apart). */
export function postgresLedgerStore(url: string, options: {setting?: string; name?: string} = {}): LedgerStore {
  const config = postgresConfigFromUrl(url, options.setting ?? 'the ledger URL', {applicationName: 'fivetran-alert-ledger', statementTimeoutMs: 30_000, connectTimeoutMs: 10_000});
  const name = options.name ?? 'default';
  const table = quoteIdent(LEDGER_TABLE);
  return {
    label: `postgres://${config.host}:${config.port}/${config.database} (table ${LEDGER_TABLE})`,
    async update(change) {
      const client = await connect(config);
      try {
        await client.query(`CREATE TABLE IF NOT EXISTS ${table} (name text PRIMARY KEY, ledger jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`).catch(async (error: unknown) => {
          // two first deliveries may race to create it: the loser's unique violation means it exists now
          if ((error as {code?: string}).code !== '23505' && (error as {code?: string}).code !== '42P07') throw error;
        });
        await client.query('BEGIN');
        try {
          await client.query(`INSERT INTO ${table} (name, ledger) VALUES ($1, $2::jsonb) ON CONFLICT (name) DO NOTHING`, [name, JSON.stringify(emptyLedger())]);
          const {rows} = await client.query<{ledger: unknown}>(`SELECT ledger FROM ${table} WHERE name = $1 FOR UPDATE`, [name]);
          const current = parseLedger(rows[0]?.ledger, `row "${name}" of ${LEDGER_TABLE}`);
          let changed;
          try {
            changed = await change(current);
          } catch (error) {
            // the caller's own failure (a sink, a bug): not the database's, so not described as one
            throw new ChangeFailed(error);
          }
          const {ledger, result} = changed;
          if (ledger) await client.query(`UPDATE ${table} SET ledger = $2::jsonb, updated_at = now() WHERE name = $1`, [name, JSON.stringify(ledger)]);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      } catch (error) {
        if (error instanceof ChangeFailed) throw error.cause;
        throw describePostgresError(error, config);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

/** A postgres:// URL is the shared table; anything else a file path. */
export function ledgerStoreAt(location: string, setting: string): LedgerStore {
  return /^postgres(ql)?:\/\//i.test(location) ? postgresLedgerStore(location, {setting}) : fileLedgerStore(location);
}
