// Reads the user's freshness query, always as a subquery `(<freshness_query>) AS q` sent with the extended
// protocol (one statement, whatever the text holds) in a read-only transaction with a statement timeout: checks its columns, computes the stale share with one aggregate
// (PostgreSQL counts; no row is pulled into memory), and pages its rows by keyset on the id column.
import type pg from 'pg';
import {ConfigError, SourceError, type Row} from '../../sdk/index.js';
import {describePostgresError, ONE_STATEMENT_ONLY, oneStatement, quoteIdent, readOnly, type PostgresConfig} from '../../sdk/postgres.js';

export const STALE = 'Stale data';
export const FRESH = 'Fresh data';
export const STATUS_COLUMN = 'freshness_status';

/** The freshness query on an open connection, with what is needed to run it and to explain its failures. */
export interface FreshnessQuery {
  client: pg.Client;
  sql: string;
  idColumn: string;
  timeoutMs: number;
  /** the time the call has left, in ms: each statement's timeout is no longer (the function's deadline) */
  timeLeftMs?: () => number;
  /** where the query runs, for error messages */
  source: Pick<PostgresConfig, 'host' | 'port' | 'database' | 'user'>;
}

export interface FreshnessAnalysis {
  totalRows: number;
  staleRows: number;
  /** 100 * stale / total rounded to 2 decimals; 0 when the query returns no rows */
  stalePercentage: number;
}

/** The query as a subquery. The newline before `)` keeps a trailing `-- comment` from swallowing it. */
export function asSubquery(sql: string): string {
  return `(\n${sql.trim().replace(/[\s;]+$/, '')}\n) AS q`;
}

export function stalePercentage(staleRows: number, totalRows: number): number {
  return totalRows === 0 ? 0 : Math.round((staleRows * 10_000) / totalRows) / 100;
}

/** Runs `fn` in a read-only transaction and turns the query's failures into messages about freshness_query. */
async function inReadOnly<T>(query: FreshnessQuery, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const left = query.timeLeftMs?.() ?? Infinity;
  const timeoutMs = Math.max(1, Math.min(query.timeoutMs, left));
  try {
    return await readOnly(query.client, timeoutMs, fn);
  } catch (error) {
    throw describeQueryError(error, query, timeoutMs, timeoutMs < query.timeoutMs);
  }
}

function describeQueryError(error: unknown, query: FreshnessQuery, timeoutMs: number, deadline: boolean): Error {
  if (error instanceof ConfigError || error instanceof SourceError) return error;
  const code = (error as {code?: string} | null)?.code ?? '';
  const raw = error instanceof Error ? error.message : String(error);
  if (code === '25006') {
    return new ConfigError(`freshness_query tried to write (${raw}); it runs in a read-only transaction and must only read`, {cause: error});
  }
  if (code === '57014') {
    const limit = deadline ? `${Number((timeoutMs / 1000).toFixed(1))} s statement timeout (the time the call had left before its deadline)` : `${timeoutMs / 1000} s statement timeout`;
    return new SourceError(`freshness_query ran past its ${limit}; make it cheaper (an index on the timestamp it filters on usually helps)`, {cause: error});
  }
  if (code === '42601' && ONE_STATEMENT_ONLY.test(raw)) {
    return new ConfigError('freshness_query holds more than one statement; one statement is allowed: a single SELECT, with no ";" between statements', {cause: error});
  }
  if (code === '42601') {
    return new ConfigError(`freshness_query failed: ${raw}; fix the query (it runs as a subquery, so it must be a single SELECT)`, {cause: error});
  }
  // unknown tables or columns, bad casts, division by zero: the query must change
  if (code.startsWith('42') || code.startsWith('22') || code === '0A000') {
    return new ConfigError(`freshness_query failed: ${raw}; fix the query`, {cause: error});
  }
  return describePostgresError(error, query.source);
}

/** Fails with a message naming what is missing unless the query returns the id column and freshness_status. */
async function checkColumns(client: pg.Client, query: FreshnessQuery): Promise<void> {
  const {fields} = await client.query(oneStatement(`SELECT * FROM ${asSubquery(query.sql)} LIMIT 0`));
  const columns = fields.map((f) => f.name);
  const missing = [query.idColumn, STATUS_COLUMN].filter((name) => !columns.includes(name));
  if (missing.length) {
    throw new ConfigError(
      `freshness_query must return the columns ${query.idColumn} and ${STATUS_COLUMN}, but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing ` +
        `(it returns: ${columns.join(', ') || 'no columns'}); fix the query or set id_column`,
    );
  }
}

/** The setup test's check: the query parses and plans (EXPLAIN, nothing runs) and has the required columns. */
export async function checkFreshnessQuery(query: FreshnessQuery): Promise<void> {
  await inReadOnly(query, async (client) => {
    await client.query(oneStatement(`EXPLAIN SELECT * FROM ${asSubquery(query.sql)}`));
    await checkColumns(client, query);
  });
}

interface AggregateRow {
  total_rows: string;
  stale_rows: string;
  unexpected_rows: string;
  unexpected_values: (string | null)[] | null;
  null_ids: string;
  duplicate_ids: string;
}

/**
 * Checks the columns, then counts in one aggregate: the stale share, and the rows that would break the
 * check (statuses other than the two expected, NULL or repeated ids, which the keyset and the primary key of
 * data_freshness_monitor cannot carry). Both run in one snapshot.
 */
export async function analyzeFreshness(query: FreshnessQuery): Promise<FreshnessAnalysis> {
  const id = `q.${quoteIdent(query.idColumn)}`;
  const status = `q.${quoteIdent(STATUS_COLUMN)}`;
  const unexpected = `(${status} IS NULL OR ${status}::text NOT IN ($1, $2))`;
  const counts = await inReadOnly(query, async (client) => {
    await checkColumns(client, query);
    const result = await client.query<AggregateRow>(oneStatement(
      `SELECT count(*) AS total_rows,
              count(*) FILTER (WHERE ${status}::text = $1) AS stale_rows,
              count(*) FILTER (WHERE ${unexpected}) AS unexpected_rows,
              (array_agg(DISTINCT ${status}::text) FILTER (WHERE ${unexpected}))[1:5] AS unexpected_values,
              count(*) - count(${id}) AS null_ids,
              count(${id}) - count(DISTINCT ${id}) AS duplicate_ids
         FROM ${asSubquery(query.sql)}`,
      [STALE, FRESH],
    ));
    return result.rows[0]!;
  });

  const unexpectedRows = Number(counts.unexpected_rows);
  if (unexpectedRows > 0) {
    const values = (counts.unexpected_values ?? []).map((v) => (v === null ? 'NULL' : JSON.stringify(v))).join(', ');
    throw new ConfigError(
      `freshness_query returned ${unexpectedRows} row(s) whose ${STATUS_COLUMN} is neither '${STALE}' nor '${FRESH}' (unexpected values: ${values}); return exactly one of those two values`,
    );
  }
  if (Number(counts.null_ids) > 0) {
    throw new ConfigError(`freshness_query returned ${counts.null_ids} row(s) with a NULL ${query.idColumn}; every row needs an id (or set id_column)`);
  }
  if (Number(counts.duplicate_ids) > 0) {
    throw new ConfigError(
      `freshness_query returned ${counts.duplicate_ids} row(s) repeating a ${query.idColumn} value; return one row per ${query.idColumn} (it keys data_freshness_monitor)`,
    );
  }
  const totalRows = Number(counts.total_rows);
  const staleRows = Number(counts.stale_rows);
  return {totalRows, staleRows, stalePercentage: stalePercentage(staleRows, totalRows)};
}

/**
 * The next `limit` rows of the query after `after` in id order (from the start when `after` is null).
 * PostgreSQL infers the parameter's type from the id column, so int, bigint (sent back as the string pg
 * returned), text and uuid ids all compare correctly.
 */
export async function keysetPage(query: FreshnessQuery, after: string | number | null, limit: number): Promise<Row[]> {
  const id = `q.${quoteIdent(query.idColumn)}`;
  const sql =
    after === null
      ? `SELECT q.* FROM ${asSubquery(query.sql)} ORDER BY ${id} LIMIT $1`
      : `SELECT q.* FROM ${asSubquery(query.sql)} WHERE ${id} > $2 ORDER BY ${id} LIMIT $1`;
  const params = after === null ? [limit] : [limit, after];
  return inReadOnly(query, async (client) => (await client.query(oneStatement(sql, params))).rows as Row[]);
}
