// Replication slots the monitoring connector watches. Fivetran's API cannot see a source's slot, and a slot
// that nobody advances (a paused connection, a removed cdc function) makes PostgreSQL keep WAL until the disk
// fills; so each check (at its start) reads pg_replication_slots of the sources listed in `replication_slots`
// and raises an alert: a warning past max_lag_mb; critical when the slot is gone, lost (wal_status 'lost':
// PostgreSQL dropped WAL it still needed), or its lag grew at each of the last growth_checks checks (nothing
// advances it). The readings land in `replication_slots`; the alerts in `alerts` beside the connections'.
import * as z from 'zod';
import {postgresConfigFromUrl, withPostgres, type PostgresConfig, SSL_MODES} from '../../sdk/postgres.js';
import {declareTable, redactText, upsert, type Emit, type Logger, type TableSpec} from '../../sdk/index.js';

export const SlotWatch = z.strictObject({
  /** what alerts call this source */
  name: z.string().min(1),
  database_url: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  port: z.coerce.number().int().min(1).max(65535).default(5432),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  database: z.string().min(1).optional(),
  sslmode: z.enum(SSL_MODES).default('prefer'),
  slot: z.string().min(1),
  max_lag_mb: z.coerce.number().nonnegative().default(1024),
  /** critical when the lag grew at each of this many checks in a row (and is past a quarter of max_lag_mb) */
  growth_checks: z.coerce.number().int().min(2).max(50).default(4),
}).refine((watch) => watch.database_url || (watch.host && watch.user && watch.database), {
  error: 'each entry needs database_url, or host, user and database',
});
export type SlotWatch = z.infer<typeof SlotWatch>;

export const SLOTS_TABLE = 'replication_slots';
export const SLOTS_SPEC: TableSpec = {
  primaryKey: ['checked_at', 'name'],
  columns: {
    checked_at: 'utc_datetime', name: 'string', slot: 'string', host: 'string', database: 'string', exists: 'boolean', active: 'boolean',
    wal_status: 'string', lag_bytes: 'long', error: 'string',
  },
  description: 'replication_slots secret: each watched slot per check: WAL it holds (lag_bytes), active, wal_status',
};

export interface SlotReading {
  exists: boolean;
  active: boolean | null;
  wal_status: string | null;
  lag_bytes: number | null;
  /** the source could not be read (redacted, one line) */
  error: string | null;
}

/** The connection of a watched source; database_url's parts, with the entry's own fields taking precedence. */
export function watchConfig(watch: SlotWatch): PostgresConfig {
  const base = {sslmode: watch.sslmode, applicationName: 'fivetran-monitoring', statementTimeoutMs: 15_000, connectTimeoutMs: 10_000};
  const url = watch.database_url ? postgresConfigFromUrl(watch.database_url, `replication_slots entry ${watch.name}: database_url`, base) : undefined;
  return {
    ...(url ?? base),
    host: watch.host ?? url?.host ?? '',
    port: watch.host ? watch.port : (url?.port ?? watch.port),
    database: watch.database ?? url?.database ?? '',
    user: watch.user ?? url?.user ?? '',
    password: watch.password ?? url?.password,
  };
}

/** The credentials of the watched sources, redacted from every message (the secret's whole text is redacted by the SDK). */
function credentials(watches: readonly SlotWatch[]): string[] {
  return watches.flatMap((watch) => {
    const config = watchConfig(watch);
    return [config.password, watch.database_url].filter((value): value is string => Boolean(value));
  });
}

export async function readSlot(watch: SlotWatch, redact: readonly string[]): Promise<SlotReading> {
  try {
    return await withPostgres(watchConfig(watch), async (client) => {
      const {rows} = await client.query<{active: boolean; wal_status: string | null; lag: string | null}>(
        `SELECT active, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(confirmed_flush_lsn, restart_lsn))::text AS lag
           FROM pg_replication_slots WHERE slot_name = $1`,
        [watch.slot],
      );
      const row = rows[0];
      if (!row) return {exists: false, active: null, wal_status: null, lag_bytes: null, error: null};
      return {exists: true, active: row.active, wal_status: row.wal_status, lag_bytes: row.lag === null ? null : Number(row.lag), error: null};
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {exists: false, active: null, wal_status: null, lag_bytes: null, error: redactText(message.split('\n')[0]!, redact)};
  }
}

export interface SlotAlert {
  rule: 'slot_unreadable' | 'slot_missing' | 'slot_lost' | 'slot_lag_growing' | 'slot_lag';
  severity: 'critical' | 'warning';
  message: string;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * The alert a reading raises, the worst first; `history` is the lag of the previous checks, oldest first.
 * Growth alone is not enough (WAL written between two syncs grows the lag of a healthy slot for a while),
 * so it must also have lasted growth_checks checks and passed a quarter of max_lag_mb.
 */
export function slotAlert(watch: SlotWatch, reading: SlotReading, history: readonly number[]): SlotAlert | null {
  const what = `the replication slot ${watch.slot} of ${watch.name}`;
  const drop = `drop it (SELECT pg_drop_replication_slot('${watch.slot}'), or ./fivetran replication drop-slot) if its connection is gone`;
  if (reading.error) return {rule: 'slot_unreadable', severity: 'warning', message: `cannot read ${what}: ${reading.error}; check the entry "${watch.name}" of replication_slots`};
  if (!reading.exists) return {rule: 'slot_missing', severity: 'critical', message: `${what} does not exist: its cdc connection cannot stream; resync the connection (its first sync creates the slot) or remove the entry from replication_slots`};
  if (reading.wal_status === 'lost') {
    return {rule: 'slot_lost', severity: 'critical', message: `${what} is lost: PostgreSQL removed WAL it still needed (max_slot_wal_keep_size); resync the connection, then ${drop}`};
  }
  const lag = reading.lag_bytes ?? 0;
  const limit = watch.max_lag_mb * 1024 * 1024;
  const recent = [...history.slice(-watch.growth_checks), lag];
  const grew = recent.length > watch.growth_checks && recent.every((value, i) => i === 0 || value > recent[i - 1]!);
  if (grew && lag > limit / 4) {
    return {
      rule: 'slot_lag_growing', severity: 'critical',
      message: `${what} holds ${mb(lag)} of WAL and grew at each of the last ${watch.growth_checks} checks${reading.active ? '' : ' (no one is reading it)'}: nothing advances it; check that its connection syncs (not paused), or ${drop}`,
    };
  }
  if (lag > limit) {
    return {rule: 'slot_lag', severity: 'warning', message: `${what} holds ${mb(lag)} of WAL (max_lag_mb ${watch.max_lag_mb}): sync its connection more often, or ${drop}`};
  }
  return null;
}

/**
 * Reads every watched slot and yields its reading and alert rows at `checkedAt`; returns the lag history to
 * keep in the state (per entry name, the last growth_checks readings).
 */
export async function* checkSlots(
  watches: readonly SlotWatch[],
  history: Readonly<Record<string, number[]>>,
  checkedAt: string,
  log: Pick<Logger, 'warn'>,
): AsyncGenerator<Emit<never>, Record<string, number[]>> {
  const redact = credentials(watches);
  const readings = await Promise.all(watches.map((watch) => readSlot(watch, redact)));
  const kept: Record<string, number[]> = {};
  yield declareTable(SLOTS_TABLE, SLOTS_SPEC);
  for (const [i, watch] of watches.entries()) {
    const reading = readings[i]!;
    const previous = history[watch.name] ?? [];
    const config = watchConfig(watch);
    yield upsert(SLOTS_TABLE, {checked_at: checkedAt, name: watch.name, slot: watch.slot, host: config.host, database: config.database, ...reading});
    const alert = slotAlert(watch, reading, previous);
    if (alert) {
      log.warn(alert.message, {rule: alert.rule, severity: alert.severity});
      yield upsert('alerts', {
        checked_at: checkedAt, connection_id: `slot:${watch.name}`, rule: alert.rule, severity: alert.severity, tenant_id: null, group_id: null,
        group_name: null, schema_name: watch.name, service: 'postgres_replication_slot', since: null, message: alert.message,
      });
    }
    // a reading that failed keeps the history as it was; a missing slot starts it over
    kept[watch.name] = reading.lag_bytes === null ? (reading.error ? previous : []) : [...previous, reading.lag_bytes].slice(-watch.growth_checks);
  }
  return kept;
}
