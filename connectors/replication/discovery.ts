// Discovery: the tables of the configured schemas, their columns, types, primary keys and estimated sizes,
// read from the catalog in one query (pg_class / pg_attribute / pg_index), and the size category that
// drives batching (the original connector's thresholds: small < 1M rows, medium 1M-50M, large > 50M).
import type pg from 'pg';

export type SizeCategory = 'small' | 'medium' | 'large';

export const SMALL_TABLE_ROWS = 1_000_000;
export const LARGE_TABLE_ROWS = 50_000_000;

export function sizeCategory(estimatedRows: number): SizeCategory {
  if (estimatedRows < SMALL_TABLE_ROWS) return 'small';
  if (estimatedRows <= LARGE_TABLE_ROWS) return 'medium';
  return 'large';
}

export interface SourceColumn {
  name: string;
  position: number;
  /** as PostgreSQL prints it, e.g. `numeric(10,2)`, `character varying(50)`, `"Mood"` */
  type: string;
  /** the base type's name (domains resolved), e.g. `numeric`, `_int4` for int4[] */
  baseType: string;
  /** whether the base type is one of PostgreSQL's own (in pg_catalog), not a user type of the same name */
  builtinType: boolean;
  /** the element type's name for arrays */
  elementType: string | null;
  /** pg_type.typcategory of the base type: N numeric, S string, A array, E enum, ... */
  category: string;
  nullable: boolean;
  default: string | null;
  /** character length limit, or null */
  maxLength: number | null;
  precision: number | null;
  scale: number | null;
  /** 1-based position in the primary key, or null */
  primaryKeyPosition: number | null;
}

export interface SourceTable {
  oid: number;
  schema: string;
  name: string;
  kind: 'table' | 'partitioned table';
  comment: string | null;
  estimatedRows: number;
  estimatedBytes: number;
  /** heap bytes per row (catalog estimate) */
  averageRowBytes: number;
  /**
   * bytes of the table's TOAST table (catalog estimate): values too large to stay in the row, stored apart
   * and compressed, so neither the heap width nor this says how wide their JSON is (see measureWidth)
   */
  toastBytes: number;
  /** the table has a TOAST table: some of its values may be stored apart, however wide (a text column, say) */
  toastable: boolean;
  category: SizeCategory;
  readable: boolean;
  columns: SourceColumn[];
  /** primary key columns in key order; empty when the table has none */
  primaryKey: SourceColumn[];
}

export interface Catalog {
  serverVersion: number;
  /** the configured schemas that exist and the user may use */
  schemas: {name: string; usable: boolean}[];
  tables: SourceTable[];
}

interface RawColumn {
  name: string;
  position: number;
  type: string;
  base: string;
  builtin: boolean;
  element: string | null;
  category: string;
  not_null: boolean;
  default: string | null;
  typmod: number;
  pk: number | null;
}

/**
 * The catalog query. With `detail` (once per sync, for the metadata tables) it also reads comments, column
 * defaults and on-disk sizes; without, it touches fewer catalogs, which matters because every call opens a
 * new connection whose catalog caches are cold.
 */
function catalogSql(detail: boolean): string {
  // Sizes come from the catalog's page counts (as of the last VACUUM / ANALYZE), never from
  // pg_relation_size: that takes a lock on the table, so one table locked by another session would hold up
  // the discovery of every table. With `detail`: the heap, its TOAST table and its indexes.
  const pages = (rel: string) =>
    detail
      ? `(${rel}.relpages::int8 + coalesce((SELECT t.relpages FROM pg_class t WHERE t.oid = ${rel}.reltoastrelid), 0) + coalesce((SELECT sum(i.relpages) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = ${rel}.oid), 0))`
      : `${rel}.relpages::int8`;
  const sizes = (total: boolean) => {
    const of = (rel: string) => (total ? pages(rel) : `${rel}.relpages::int8`);
    return `(CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(${of('p')}), 0) FROM pg_partition_tree(c.oid) pt JOIN pg_class p ON p.oid = pt.relid WHERE pt.isleaf) ELSE ${of('c')} END * current_setting('block_size')::int8)::int8`;
  };
  return `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
       ${detail ? "obj_description(c.oid, 'pg_class')" : 'NULL::text'} AS comment,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(greatest(p.reltuples, 0)), 0) FROM pg_partition_tree(c.oid) pt JOIN pg_class p ON p.oid = pt.relid WHERE pt.isleaf)
            ELSE c.reltuples END::float8 AS reltuples,
       ${sizes(true)} AS total_bytes,
       ${sizes(false)} AS heap_bytes,
       (coalesce((SELECT t.relpages FROM pg_class t WHERE t.oid = c.reltoastrelid), 0)::int8 * current_setting('block_size')::int8) AS toast_bytes,
       (c.reltoastrelid <> 0 OR c.relkind = 'p') AS toastable,
       has_table_privilege(c.oid, 'SELECT') AS readable,
       coalesce((
         SELECT json_agg(json_build_object(
                  'name', a.attname, 'position', a.attnum, 'type', format_type(a.atttypid, a.atttypmod),
                  'base', bt.typname, 'builtin', bt.typnamespace = 'pg_catalog'::regnamespace, 'element', et.typname, 'category', bt.typcategory, 'not_null', a.attnotnull,
                  'default', ${detail ? 'pg_get_expr(d.adbin, d.adrelid)' : 'NULL'},
                  'typmod', CASE WHEN ty.typtype = 'd' THEN ty.typtypmod ELSE a.atttypmod END,
                  'pk', array_position(pk.indkey::int2[], a.attnum)) ORDER BY a.attnum)
         FROM pg_attribute a
         JOIN pg_type ty ON ty.oid = a.atttypid
         JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
         LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
         ${detail ? 'LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum' : ''}
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND ($2::text[] IS NULL OR lower(c.relname) = ANY($2::text[]))`;
}

/**
 * The whole discovery in one round trip: the schemas (usable or not), the server version, and the tables
 * with their columns as JSON (a new connection per call has cold catalog caches, so every query counts).
 */
function discoverySql(detail: boolean): string {
  return `
SELECT current_setting('server_version_num')::int AS version,
       (SELECT coalesce(json_agg(json_build_object('name', nspname, 'usable', has_schema_privilege(oid, 'USAGE'))), '[]')
          FROM pg_namespace WHERE nspname = ANY($1::text[])) AS schemas,
       (SELECT coalesce(json_agg(t ORDER BY t.schema, t.name), '[]') FROM (${catalogSql(detail)}) t) AS tables`;
}

/**
 * The lower-cased table names include_tables may match (a key, and its part after a schema prefix), to
 * narrow the catalog query; null reads every table of the schemas. Matching itself is planReplication's.
 */
export function candidateNames(includeTables: readonly string[]): string[] | null {
  if (!includeTables.length) return null;
  const names = new Set<string>();
  for (const key of includeTables) {
    names.add(key.toLowerCase());
    const dot = key.indexOf('.');
    if (dot > 0) names.add(key.slice(dot + 1).toLowerCase());
  }
  return [...names];
}

function lengthOf(base: string, typmod: number): number | null {
  if (typmod < 0) return null;
  if (base === 'varchar' || base === 'bpchar') return typmod - 4;
  if (base === 'bit' || base === 'varbit') return typmod;
  return null;
}

function numericShape(base: string, typmod: number): {precision: number | null; scale: number | null} {
  if (base !== 'numeric' || typmod < 4) return {precision: null, scale: null};
  const packed = typmod - 4;
  // scale is an 11-bit signed field since PostgreSQL 15 (negative scales)
  let scale = packed & 0x7ff;
  if (scale & 0x400) scale -= 0x800;
  return {precision: (packed >> 16) & 0xffff, scale};
}

/**
 * Reads the configured schemas' tables from the catalog, in one round trip. `names` (see candidateNames)
 * narrows it to the tables that may be replicated.
 */
export async function discover(client: pg.Client, schemas: readonly string[], options: {detail?: boolean; names?: string[] | null} = {}): Promise<Catalog> {
  const result = await client.query<{
    version: number;
    schemas: {name: string; usable: boolean}[];
    tables: {
      oid: number; schema: string; name: string; relkind: string; comment: string | null; reltuples: number;
      total_bytes: number; heap_bytes: number; toast_bytes: number; toastable: boolean; readable: boolean; columns: RawColumn[];
    }[];
  }>(discoverySql(options.detail ?? true), [schemas, options.names ?? null]);
  const {version, schemas: schemaRows, tables: tableRows} = result.rows[0]!;
  const tables = tableRows.map((row): SourceTable => {
    const columns = row.columns.map((raw): SourceColumn => ({
      name: raw.name,
      position: raw.position,
      type: raw.type,
      baseType: raw.base,
      builtinType: raw.builtin,
      elementType: raw.element,
      category: raw.category,
      nullable: !raw.not_null,
      default: raw.default,
      maxLength: lengthOf(raw.base, raw.typmod),
      ...numericShape(raw.base, raw.typmod),
      primaryKeyPosition: raw.pk,
    }));
    const heapBytes = Number(row.heap_bytes);
    // reltuples is -1 before the first ANALYZE / VACUUM: estimate from the heap size instead
    const estimatedRows = row.reltuples >= 0 ? Math.round(row.reltuples) : Math.round(heapBytes / 100);
    return {
      oid: Number(row.oid),
      schema: row.schema,
      name: row.name,
      kind: row.relkind === 'p' ? 'partitioned table' : 'table',
      comment: row.comment,
      estimatedRows,
      estimatedBytes: Number(row.total_bytes),
      averageRowBytes: estimatedRows > 0 ? Math.max(1, Math.round((heapBytes + Number(row.toast_bytes)) / estimatedRows)) : 0,
      toastBytes: Number(row.toast_bytes),
      toastable: row.toastable,
      category: sizeCategory(estimatedRows),
      readable: row.readable,
      columns,
      primaryKey: columns.filter((c) => c.primaryKeyPosition !== null).sort((a, b) => a.primaryKeyPosition! - b.primaryKeyPosition!),
    };
  });
  return {serverVersion: version, schemas: schemaRows.map(({name, usable}) => ({name, usable})), tables};
}
