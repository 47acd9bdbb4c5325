// The call's one PostgreSQL connection: opened lazily, session settings fixed for exact and stable value
// text (UTC, ISO dates), closed or kept (below) by the caller when the call ends. Connection losses and
// serialization failures are retried with exponential backoff and jitter: the connection is reopened and
// the same step runs again from the same position. Authentication, missing objects and permissions fail at once.
//
// A call that stops with more to do may leave its connection open for the next call of the same sync on
// this warm function instance (`keep`), with the next batch already requested, so that PostgreSQL reads it
// while the function answers and Fivetran calls again: each call then skips the connection set-up (TCP,
// authentication, cold catalog caches) and starts with rows in hand. The next call takes the connection only
// when its settings are the same (a hash of the whole configuration, password included) and the batch only
// when it starts at the same position; otherwise it closes or ignores them. A kept connection no call takes
// closes itself after KEEP_IDLE_MS (a timer here, and idle_session_timeout on PostgreSQL 14+ in case the
// instance is frozen); the look-ahead batch is bounded by the batch size, so PostgreSQL completes it even if
// nothing reads it. However busy, a connection is kept for at most MAX_CONNECTION_AGE_MS after it was opened
// (the original connector's connection lifecycle): a sync of many calls then reconnects every 3 hours, so a
// server-side session (its memory, its catalog caches, a role or setting changed meanwhile) does not live
// as long as the sync does.
import {createHash} from 'node:crypto';
import type pg from 'pg';
import {SourceError, withRetry, type Logger} from '../../sdk/index.js';
import {connect, describePostgresError, isRetriablePostgresError, quoteIdent, type PostgresConfig} from '../../sdk/postgres.js';

/** How long a connection left open for the next call waits for it. */
export const KEEP_IDLE_MS = 60_000;

/** The oldest a kept connection may be when a call takes it or leaves it open: then it is closed, and the next call opens a new one. */
export const MAX_CONNECTION_AGE_MS = 3 * 60 * 60 * 1000;

// The text of timestamps, dates, intervals and floats depends on these; fixing them keeps values and the
// `_row_hash` hashes of tables without a primary key the same from one sync to the next. They travel in
// the connection's startup message: no round trip per call.
const SESSION_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  extra_float_digits: '1',
};

/** A connection that may be kept for the next call also ends itself on the server if nobody takes it (14+). */
const KEEPABLE_SETTINGS = `SELECT set_config('idle_session_timeout', '${KEEP_IDLE_MS + 5_000}', false) WHERE current_setting('server_version_num')::int >= 140000`;

/** A read requested for the next call: where it starts, and its result. */
export interface CarriedRead<T> {
  key: string;
  value: T;
}

interface KeptConnection {
  configKey: string;
  client: pg.Client;
  /** when it was opened, on the calls' clock */
  openedAt: number;
  carried: CarriedRead<unknown> | null;
  timer: NodeJS.Timeout;
}

/** The connection a call left open for the next one (one per function instance). */
let kept: KeptConnection | null = null;
/** Clients whose connection ended or failed: never kept or reused. */
const lost = new WeakSet<pg.Client>();

/** A kept connection must not keep the process alive (a CLI run that ends after a call with more to do). */
function socketOf(client: pg.Client): {ref(): void; unref(): void} | undefined {
  return (client as unknown as {connection?: {stream?: {ref(): void; unref(): void}}}).connection?.stream;
}

function takeKept(configKey: string, now: number): KeptConnection | null {
  const connection = kept;
  kept = null;
  if (!connection) return null;
  clearTimeout(connection.timer);
  socketOf(connection.client)?.ref();
  if (connection.configKey === configKey && !lost.has(connection.client) && now - connection.openedAt < MAX_CONNECTION_AGE_MS) return connection;
  void connection.client.end().catch(() => undefined);
  return null;
}

export interface RetrySettings {
  retries: number;
  baseDelayMs: number;
}

export class SourceSession {
  private client: pg.Client | null = null;
  /** when `client` was opened (by this call or, kept, by an earlier one) */
  private openedAt = 0;
  /** retries made in this call (for replication_runs) */
  retries = 0;
  lastRetriedError: string | null = null;
  /** true when this call took the connection a previous call left open */
  reused = false;
  private carried: CarriedRead<unknown> | null = null;
  private readonly configKey: string;
  /** set when the call has ended: a read still in flight then must not reconnect (nobody would close it) */
  private released = false;

  private readonly config: PostgresConfig;
  /** what the queries in flight are doing (`loading public.orders`), for the deadline's message */
  private readonly running = new Map<number, string>();
  private runs = 0;
  /** at the deadline: what the query in flight was waiting on, once its cancel was sent */
  private blocked: Promise<string | null> | null = null;
  private readonly onDeadline = () => {
    const client = this.client;
    if (client && this.running.size) this.blocked = this.cancelInFlight(client);
  };

  /**
   * `keepable`: the call may keep its connection for the next call (keep_connection_between_calls); `now`:
   * the calls' clock, which a kept connection's age is measured on
   */
  constructor(
    config: PostgresConfig,
    private readonly retry: RetrySettings,
    private readonly log: Logger,
    private readonly signal?: AbortSignal,
    private readonly keepable = false,
    private readonly now: () => number = Date.now,
  ) {
    this.config = {...config, settings: {...SESSION_SETTINGS, ...config.settings}};
    this.configKey = createHash('sha256').update(JSON.stringify(this.config)).digest('hex');
    signal?.addEventListener('abort', this.onDeadline, {once: true});
  }

  /**
   * The call reached its deadline with a query running: from a second connection, find what that query waits
   * on (a lock, and on which relation and held by whom, or another wait) and cancel it (pg_cancel_backend, as
   * the same user may), so the call answers before the platform's timeout. Returns the description.
   */
  private async cancelInFlight(client: pg.Client): Promise<string | null> {
    const pid = (client as unknown as {processID?: number | null}).processID;
    if (!pid) return null;
    try {
      const admin = await connect({...this.config, connectTimeoutMs: 2_000, statementTimeoutMs: 2_000});
      try {
        const {rows} = await admin.query<{wait_type: string | null; wait_event: string | null; schema: string | null; relation: string | null; blockers: number[] | null; cancelled: boolean}>(
          `SELECT a.wait_event_type AS wait_type, a.wait_event,
                  w.schema, w.relation,
                  pg_blocking_pids(a.pid) AS blockers,
                  pg_cancel_backend(a.pid) AS cancelled
             FROM pg_stat_activity a
             LEFT JOIN LATERAL (SELECT n.nspname AS schema, c.relname AS relation FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                                  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) w ON true
            WHERE a.pid = $1`,
          [pid],
        );
        const row = rows[0];
        if (!row) return null;
        const blockers = row.blockers?.length ? ` (held by PostgreSQL process ${row.blockers.join(', ')})` : '';
        if (row.wait_type === 'Lock') {
          const on = row.relation ? `a lock on ${quoteIdent(row.schema ?? '')}.${quoteIdent(row.relation)}` : `a lock (${row.wait_event})`;
          return `waiting for ${on}${blockers}`;
        }
        return row.wait_type ? `waiting on ${row.wait_type}/${row.wait_event}${blockers}` : 'a query still running';
      } finally {
        await admin.end().catch(() => undefined);
      }
    } catch (error) {
      this.log.warn('could not cancel the query in flight at the deadline', {error: error instanceof Error ? error.message : String(error)});
      return null;
    }
  }

  private async open(): Promise<pg.Client> {
    if (this.client) return this.client;
    if (this.released) throw new Error('the call has ended; a read requested ahead is not retried');
    const previous = takeKept(this.configKey, this.now());
    if (previous) {
      this.client = previous.client;
      this.openedAt = previous.openedAt;
      this.carried = previous.carried;
      this.reused = true;
      return previous.client;
    }
    const client = await connect(this.config);
    if (this.released) {
      // the call ended while this connection was being opened (a stream reading ahead): nobody would close it
      await client.end().catch(() => undefined);
      throw new Error('the call has ended; a read requested ahead is not retried');
    }
    this.openedAt = this.now();
    const markLost = () => lost.add(client);
    client.on('error', markLost);
    client.on('end', markLost);
    if (this.keepable) {
      try {
        await client.query(KEEPABLE_SETTINGS);
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
    }
    this.client = client;
    return client;
  }

  /**
   * The settings of this session's connections for a logical replication connection (cdc/stream.ts): the same
   * server, credentials and session settings (so values have the same text), without a statement timeout.
   */
  replicationConfig(): PostgresConfig {
    // a stream lasts as long as the Update: no statement_timeout, whatever the role's or database's default
    return {...this.config, replication: 'database', statementTimeoutMs: 0, settings: {...this.config.settings, statement_timeout: '0'}};
  }

  /** Runs `fn` on the connection; on a retriable failure reconnects and runs it again (same arguments). */
  async run<T>(what: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const id = ++this.runs;
    this.running.set(id, what);
    try {
      return await withRetry(async () => fn(await this.open()), {
        retries: this.retry.retries,
        baseDelayMs: this.retry.baseDelayMs,
        isRetriable: isRetriablePostgresError,
        signal: this.signal,
        onRetry: (error, attempt, delayMs) => {
          this.retries++;
          this.lastRetriedError = describePostgresError(error, this.config).message;
          this.log.warn(`${what} failed; reconnecting and retrying from the same position`, {attempt, delay_ms: delayMs, error: this.lastRetriedError});
          void this.drop();
        },
      });
    } catch (error) {
      if (this.signal?.aborted) {
        // cancelled at the deadline (or the call ended): say what it was waiting on, not "a statement timeout"
        const blocked = (await this.blocked) ?? 'a query still running';
        throw new SourceError(`${blocked} while ${what}`, {cause: error, retriable: true});
      }
      throw describePostgresError(error, this.config);
    } finally {
      this.running.delete(id);
    }
  }

  /** The read a previous call requested for this one, if it starts at `key` (taken once). */
  takeCarried<T>(key: string): T | null {
    const carried = this.carried;
    if (!carried || carried.key !== key) return null;
    this.carried = null;
    return carried.value as T;
  }

  /**
   * Starts a read for the next call on this connection, without retries (a failure just means the next call
   * reads it again itself). Only one is kept: the last requested.
   */
  carry<T>(key: string, read: (client: pg.Client) => T): void {
    if (!this.client || lost.has(this.client)) return;
    this.carried = {key, value: read(this.client)};
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.carried = null;
    await client?.end().catch(() => undefined);
  }

  /** Ends the call, closing the connection. */
  async close(): Promise<void> {
    this.released = true;
    this.signal?.removeEventListener('abort', this.onDeadline);
    await this.drop();
  }

  /** Ends the call, leaving the connection (and the read carried for the next call) open for the next call. */
  async keep(): Promise<void> {
    this.released = true;
    this.signal?.removeEventListener('abort', this.onDeadline);
    const client = this.client;
    const age = this.now() - this.openedAt;
    if (!client || lost.has(client) || age >= MAX_CONNECTION_AGE_MS) return this.drop();
    this.client = null;
    // one kept connection per instance: any other is closed
    takeKept('', 0);
    const timer = setTimeout(() => {
      if (kept?.client === client) kept = null;
      void client.end().catch(() => undefined);
    }, Math.min(KEEP_IDLE_MS, MAX_CONNECTION_AGE_MS - age));
    timer.unref();
    socketOf(client)?.unref();
    kept = {configKey: this.configKey, client, openedAt: this.openedAt, carried: this.carried, timer};
    this.carried = null;
  }
}

/** Closes a connection left open for a next call (tests; a process that is about to exit). */
export async function closeKeptConnection(): Promise<void> {
  const connection = kept;
  kept = null;
  if (!connection) return;
  clearTimeout(connection.timer);
  await connection.client.end().catch(() => undefined);
}
