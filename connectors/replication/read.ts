// The readers: SQL that makes PostgreSQL build each row's JSON text, so Node only joins the texts of a
// batch with commas (it never parses or serializes a row). Every read is keyset-paginated
// (never OFFSET): by primary key for loads and sweeps, by (cursor, primary key) for incremental scans, by
// ctid page ranges for tables without a primary key. Each row also carries its key values as text: the
// last row's are the batch's keyset position.
import pg from 'pg';
import {qualifiedName, quoteIdent} from '../../sdk/postgres.js';
import {jsonValueExpression} from './column-types.js';
import {FIVETRAN_ID, type PlannedColumn, type TablePlan} from './plan.js';

export interface Batch {
  /** the rows' JSON objects joined with commas ('' when empty) */
  json: string;
  count: number;
  /** size of `json` as the response counts it (characters) */
  bytes: number;
  /** the last row's key values as text (ordered reads), or null */
  lastKey: string[] | null;
}

/** Collects query parameters and returns their placeholders. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

const col = (column: PlannedColumn, alias = 't') => `${alias}.${quoteIdent(column.name)}`;

/** `schema.table t CROSS JOIN LATERAL (SELECT <json value> AS "dest", ...) d`: `d` is the row as it travels. */
function fromClause(plan: TablePlan): string {
  const values = plan.columns.map((c) => `${jsonValueExpression(c)} AS ${quoteIdent(c.dest)}`).join(', ');
  return `${qualifiedName(plan.source.schema, plan.source.name)} t CROSS JOIN LATERAL (SELECT ${values}) d`;
}

/** The row's JSON text; tables without a primary key get `_fivetran_id`, the md5 of the row's values. */
function rowJson(plan: TablePlan): string {
  if (plan.method !== 'ctid') return 'row_to_json(d)::text';
  const id = `'{"${FIVETRAN_ID}":"' || md5(t::text) || '"'`;
  if (plan.columns.length === 0) return `${id} || '}'`;
  return `${id} || ',' || substr(row_to_json(d)::text, 2)`;
}

function filterConditions(plan: TablePlan, params: Params): string[] {
  return plan.filters.map(({column, value}) => (value === null ? `${col(column)} IS NULL` : `${col(column)} = ${params.add(String(value))}`));
}

function keyset(columns: readonly PlannedColumn[], values: readonly string[], op: '>' | '<=', params: Params): string {
  const left = columns.map((c) => col(c)).join(', ');
  const right = columns.map((c, i) => params.add(values[i], c.type)).join(', ');
  return columns.length === 1 ? `${left} ${op} ${right}` : `(${left}) ${op} (${right})`;
}

/**
 * One ordered batch: each row's JSON text and its key values as text, streamed row by row so Node decodes
 * rows while PostgreSQL builds the next ones (joining them in SQL with string_agg would serialize the two).
 */
function orderedBatchQuery(plan: TablePlan, order: readonly PlannedColumn[], conditions: string[], params: Params, limit: number): string {
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const keys = order.map((c) => `${col(c)}::text`).join(', ');
  const orderBy = order.map((c) => col(c)).join(', ');
  return `SELECT ${rowJson(plan)}, ${keys} FROM ${fromClause(plan)} ${where} ORDER BY ${orderBy} LIMIT ${params.add(limit)}`;
}

/** Rows joined into one string as they arrive, a few hundred at a time (see runBatch). */
const JOIN_EVERY_ROWS = 256;

/**
 * Runs a batch query, joining the rows' JSON texts as they stream in. Rows are not kept: a few hundred are
 * joined into one larger string and dropped, so they die young instead of being copied by the garbage
 * collector as the batch grows (measured: holding every row string until the end cost ~10% of a call).
 */
function runBatch(client: pg.Client, text: string, params: Params, keyCount: number): Promise<Batch> {
  return new Promise((resolve, reject) => {
    const query = new pg.Query({text, values: params.values, rowMode: 'array'} as pg.QueryConfig);
    const chunks: string[] = [];
    let pending: string[] = [];
    let count = 0;
    let last: string[] | null = null;
    query.on('row', (row: string[]) => {
      pending.push(row[0]!);
      last = row;
      count++;
      if (pending.length === JOIN_EVERY_ROWS) {
        chunks.push(pending.join(','));
        pending = [];
      }
    });
    query.on('error', reject);
    query.on('end', () => {
      if (pending.length) chunks.push(pending.join(','));
      const json = chunks.length === 1 ? chunks[0]! : chunks.join(',');
      const lastKey = last && keyCount ? (last as string[]).slice(1, 1 + keyCount) : null;
      resolve({json: count ? json : '', count, bytes: count ? json.length : 0, lastKey});
    });
    client.query(query);
  });
}

/** Initial load or re-read: rows after `after` in primary key order. */
export function readByKey(client: pg.Client, plan: TablePlan, after: readonly string[] | null, limit: number): Promise<Batch> {
  const params = new Params();
  const conditions = filterConditions(plan, params);
  if (after) conditions.push(keyset(plan.primaryKey, after, '>', params));
  return runBatch(client, orderedBatchQuery(plan, plan.primaryKey, conditions, params, limit), params, plan.primaryKey.length);
}

/**
 * The late-commit sweep of an incremental pass: rows written by transactions that had not committed when the
 * previous pass read (their xmin is at or after that pass's snapshot horizon) and whose cursor is not past
 * the saved position, so the scan would not see them. Primary key order, after `after`.
 */
export function readLateCommits(client: pg.Client, plan: TablePlan, horizon: string, position: readonly string[] | null, after: readonly string[] | null, limit: number): Promise<Batch> {
  const cursor = plan.cursor!;
  const params = new Params();
  const conditions = filterConditions(plan, params);
  conditions.push(`age(t.xmin) <= age(${params.add(xid32(horizon), 'xid')})`);
  if (position) conditions.push(`(${col(cursor)} IS NULL OR ${keyset([cursor, ...plan.primaryKey], position, '<=', params)})`);
  if (after) conditions.push(keyset(plan.primaryKey, after, '>', params));
  return runBatch(client, orderedBatchQuery(plan, plan.primaryKey, conditions, params, limit), params, plan.primaryKey.length);
}

/** The incremental scan: rows after `position` in (cursor, primary key) order. */
export function readByCursor(client: pg.Client, plan: TablePlan, position: readonly string[] | null, limit: number): Promise<Batch> {
  const cursor = plan.cursor!;
  const order = [cursor, ...plan.primaryKey];
  const params = new Params();
  const conditions = filterConditions(plan, params);
  conditions.push(`${col(cursor)} IS NOT NULL`);
  if (position) conditions.push(keyset(order, position, '>', params));
  return runBatch(client, orderedBatchQuery(plan, order, conditions, params, limit), params, order.length);
}

/** Rows of heap pages [fromPage, toPage) (a TID range scan), for tables without a primary key. */
export function readPages(client: pg.Client, plan: TablePlan, fromPage: number, toPage: number): Promise<Batch> {
  const params = new Params();
  const conditions = filterConditions(plan, params);
  conditions.push(`t.ctid >= ${params.add(`(${fromPage},0)`, 'tid')}`, `t.ctid < ${params.add(`(${toPage},0)`, 'tid')}`);
  const text = `SELECT ${rowJson(plan)} FROM ${fromClause(plan)} WHERE ${conditions.join(' AND ')}`;
  return runBatch(client, text, params, 0);
}

/** Heap pages of the table (of its largest partition, for a partitioned table). */
export async function tablePages(client: pg.Client, plan: TablePlan): Promise<number> {
  const result = await client.query<{pages: string}>(
    `SELECT (greatest(pg_relation_size($1::regclass), (SELECT coalesce(max(pg_relation_size(relid)), 0) FROM pg_partition_tree($1::regclass) WHERE isleaf))
             / current_setting('block_size')::int8)::int8 AS pages`,
    [plan.source.oid],
  );
  return Number(result.rows[0]?.pages ?? 0);
}

function snapshotXminSql(serverVersion: number): string {
  return serverVersion >= 130000 ? 'pg_snapshot_xmin(pg_current_snapshot())::text' : 'txid_snapshot_xmin(txid_current_snapshot())::text';
}

/** The oldest transaction still running: rows it (or any later one) writes may be missing from reads so far. */
export async function snapshotHorizon(client: pg.Client, serverVersion: number): Promise<string> {
  const result = await client.query<{horizon: string}>(`SELECT ${snapshotXminSql(serverVersion)} AS horizon`);
  return result.rows[0]!.horizon;
}

/**
 * Before an initial load of an incremental table: the horizon and the largest (cursor, key) in one snapshot.
 * Rows past that position are read by the first incremental scan; rows changed during the load (xmin at or
 * after the horizon) by its sweep.
 */
export async function loadStart(client: pg.Client, plan: TablePlan, serverVersion: number): Promise<{horizon: string; start: string[] | null}> {
  const cursor = plan.cursor!;
  const order = [cursor, ...plan.primaryKey];
  const params = new Params();
  const conditions = [...filterConditions(plan, params), `${col(cursor)} IS NOT NULL`];
  const text =
    `SELECT ${snapshotXminSql(serverVersion)} AS horizon, ` +
    `(SELECT ARRAY[${order.map((c) => `${col(c)}::text`).join(', ')}] FROM ${qualifiedName(plan.source.schema, plan.source.name)} t ` +
    `WHERE ${conditions.join(' AND ')} ORDER BY ${order.map((c) => `${col(c)} DESC`).join(', ')} LIMIT 1) AS start`;
  const result = await client.query<{horizon: string; start: string[] | null}>({text, values: params.values});
  const row = result.rows[0]!;
  return {horizon: row.horizon, start: row.start};
}

/** A 64-bit transaction id (xid8 text) as the 32-bit xid that row headers carry. */
export function xid32(xid8: string): string {
  return (BigInt(xid8) % 4294967296n).toString();
}
