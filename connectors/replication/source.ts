// The call's one PostgreSQL connection: opened lazily, session settings fixed for exact and stable value
// text (UTC, ISO dates), closed in `finally` by the caller. Connection losses and serialization failures
// are retried with exponential backoff and jitter: the connection is reopened and the same step runs
// again from the same position. Authentication, missing objects and permissions fail at once.
import type pg from 'pg';
import {withRetry, type Logger} from '../../sdk/index.js';
import {connect, describePostgresError, isRetriablePostgresError, type PostgresConfig} from '../../sdk/postgres.js';

// The text of timestamps, dates, intervals and floats depends on these; fixing them keeps values and the
// `_fivetran_id` hashes of tables without a primary key the same from one sync to the next.
const SESSION_SETTINGS = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1";

export interface RetrySettings {
  retries: number;
  baseDelayMs: number;
}

export class SourceSession {
  private client: pg.Client | null = null;
  /** retries made in this call (for replication_runs) */
  retries = 0;
  lastRetriedError: string | null = null;

  constructor(
    private readonly config: PostgresConfig,
    private readonly retry: RetrySettings,
    private readonly log: Logger,
    private readonly signal?: AbortSignal,
  ) {}

  private async open(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = await connect(this.config);
    try {
      await client.query(SESSION_SETTINGS);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
    return client;
  }

  /** Runs `fn` on the connection; on a retriable failure reconnects and runs it again (same arguments). */
  async run<T>(what: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
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
      throw describePostgresError(error, this.config);
    }
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.drop();
  }
}
