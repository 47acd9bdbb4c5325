// From the catalog and the secrets to what each call replicates: which tables (schemas, include/exclude),
// their destination names, how each is read (incremental by cursor, re-read by key, re-read by ctid), and
// its filters. Every name in the configuration must exist: an unknown table or column is a clear error.
import {AuthError, ConfigError, type ColumnType, type TableSpec} from '../../sdk/index.js';
import {columnType} from './column-types.js';
import type {Catalog, SourceColumn, SourceTable} from './discovery.js';
import {destinationTableName, displayName, prefixedTableName, snakeCase, TABLE_PREFIX_RULE, uniqueNames} from './names.js';
import type {ReplicationSecrets} from './secrets.js';

/** incremental: keyset by primary key, then by cursor; reload: keyset by primary key every sync; ctid: no key, ctid ranges every sync */
export type ReadMethod = 'incremental' | 'reload' | 'ctid';

export const METADATA_TABLES = ['postgres_tables', 'postgres_columns', 'replication_runs'] as const;
/**
 * The key of a table without a primary key: the md5 of the row's text. Not `_fivetran_id`, which Fivetran
 * reserves (it drops a source column of that name and fails the sync when it is part of a key), nor any other
 * `_fivetran_*` name (Fivetran's system columns). No source column can take it: snakeCase drops leading
 * underscores, so a source column never folds to a name starting with `_` and a letter.
 */
export const ROW_HASH = '_row_hash';
export const DEFAULT_CURSOR_COLUMN = 'updated_at';

export interface PlannedColumn extends SourceColumn {
  /** snake_case destination column name */
  dest: string;
  destType: ColumnType;
}

export type FilterValue = string | number | boolean | null;

export interface TablePlan {
  source: SourceTable;
  /**
   * destination table name: <schema>_<table> in snake_case, or table_prefix and <table>; also the table's key
   * in the state, so a new prefix (new destination tables) loads them afresh
   */
  dest: string;
  /** schema.table as a person writes it */
  display: string;
  columns: PlannedColumn[];
  primaryKey: PlannedColumn[];
  cursor: PlannedColumn | null;
  method: ReadMethod;
  filters: {column: PlannedColumn; value: FilterValue; origin: 'region' | 'table_filters'}[];
  spec: TableSpec;
}

function tableMatcher(catalog: Catalog, schemas: readonly string[]) {
  return (key: string, setting: string): SourceTable => {
    const candidates = (predicate: (t: SourceTable) => boolean) => catalog.tables.filter(predicate);
    let found: SourceTable[] = [];
    const dot = key.indexOf('.');
    if (dot > 0 && schemas.includes(key.slice(0, dot))) {
      const schema = key.slice(0, dot);
      const name = key.slice(dot + 1);
      found = candidates((t) => t.schema === schema && t.name === name);
      if (!found.length) found = candidates((t) => t.schema === schema && t.name.toLowerCase() === name.toLowerCase());
    }
    if (!found.length) found = candidates((t) => t.name === key);
    if (!found.length) found = candidates((t) => t.name.toLowerCase() === key.toLowerCase());
    if (found.length > 1) {
      throw new ConfigError(`${setting} names table "${key}", which exists in several schemas (${found.map((t) => t.schema).join(', ')}); write it as schema.table`);
    }
    const table = found[0];
    if (!table) {
      throw new ConfigError(`${setting} names table "${key}", which does not exist in schemas ${schemas.join(', ')}; check the table name and the schemas setting`);
    }
    return table;
  };
}

function findColumn(plan: {columns: PlannedColumn[]; display: string}, name: string, setting: string): PlannedColumn {
  const column = plan.columns.find((c) => c.name === name) ?? plan.columns.find((c) => c.name.toLowerCase() === name.toLowerCase() || c.dest === name);
  if (!column) {
    throw new ConfigError(`${setting} names column "${name}" of table ${plan.display}, which has no such column; its columns are ${plan.columns.map((c) => c.name).join(', ')}`);
  }
  return column;
}

/**
 * The destinations under table_prefix. Unlike the default names, which tell tables that fold alike apart with
 * `_2`, a prefixed name is one the user chose the form of: two tables that would land in one destination
 * (`a.orders` and `b.orders`, `Order` and `order`), or one that would land in a metadata table, are an error.
 */
function prefixedNames(chosen: readonly SourceTable[], prefix: string): string[] {
  if (!TABLE_PREFIX_RULE.test(prefix)) {
    throw new ConfigError(`table_prefix "${prefix}" is not a table name prefix; use letters, digits and underscores, not starting with a digit, at most 63 characters (e.g. SOURCE_FIVETRAN_CONNECTOR)`);
  }
  const names = chosen.map((t) => prefixedTableName(prefix, t.name));
  const taken = new Map<string, SourceTable>();
  for (const [i, name] of names.entries()) {
    const table = chosen[i]!;
    const folded = name.toLowerCase();
    if ((METADATA_TABLES as readonly string[]).includes(folded)) {
      throw new ConfigError(`table_prefix "${prefix}" would put ${displayName(table.schema, table.name)} in ${name}, the connector's own metadata table; choose another prefix or exclude the table`);
    }
    const other = taken.get(folded);
    if (other) {
      throw new ConfigError(
        `table_prefix "${prefix}" would put both ${displayName(other.schema, other.name)} and ${displayName(table.schema, table.name)} in ${name}; exclude one of them (exclude_tables), or leave table_prefix unset to name tables <schema>_<table>`,
      );
    }
    taken.set(folded, table);
  }
  return names;
}

/** The tables to replicate, in a stable order (by destination name). Throws ConfigError / AuthError naming what to fix. */
export function planReplication(catalog: Catalog, secrets: ReplicationSecrets): TablePlan[] {
  const schemas = secrets.schemas;
  for (const schema of schemas) {
    const found = catalog.schemas.find((s) => s.name === schema);
    if (!found) throw new ConfigError(`schema "${schema}" does not exist in database "${secrets.database}"; check the schemas setting`);
    if (!found.usable) throw new AuthError(`user "${secrets.username}" may not use schema "${schema}"; GRANT USAGE ON SCHEMA ${schema} TO ${secrets.username}`);
  }
  const match = tableMatcher(catalog, schemas);
  const included = secrets.include_tables.length ? new Set(secrets.include_tables.map((key) => match(key, 'include_tables'))) : new Set(catalog.tables);
  const excluded = new Set<SourceTable>();
  for (const key of secrets.exclude_tables) {
    try {
      excluded.add(match(key, 'exclude_tables'));
    } catch {
      // excluding a table that does not exist changes nothing
    }
  }
  const chosen = catalog.tables.filter((t) => included.has(t) && !excluded.has(t));
  if (!chosen.length) {
    throw new ConfigError(`no tables to replicate in schemas ${schemas.join(', ')} of database "${secrets.database}"; check schemas, include_tables and exclude_tables`);
  }

  const destNames =
    secrets.table_prefix !== undefined
      ? prefixedNames(chosen, secrets.table_prefix)
      : uniqueNames(chosen.map((t) => `${t.schema}\u0000${t.name}`), (key) => {
          const [schema = '', name = ''] = key.split('\u0000');
          return destinationTableName(schema, name);
        }, METADATA_TABLES);

  const plans = chosen.map((source, index): TablePlan => {
    const display = displayName(source.schema, source.name);
    if (!source.readable) {
      throw new AuthError(`user "${secrets.username}" may not read table ${display}; GRANT SELECT ON ${display} TO ${secrets.username}, or exclude the table`);
    }
    const noKey = source.primaryKey.length === 0;
    const dests = uniqueNames(source.columns.map((c) => c.name), snakeCase, noKey ? [ROW_HASH] : []);
    const columns: PlannedColumn[] = source.columns.map((c, i) => ({...c, dest: dests[i]!, destType: columnType(c)}));
    const primaryKey = source.primaryKey.map((pk) => columns.find((c) => c.position === pk.position)!);
    return {
      source,
      dest: destNames[index]!,
      display,
      columns,
      primaryKey,
      cursor: null,
      method: noKey ? 'ctid' : 'reload',
      filters: [],
      spec: {
        primaryKey: noKey ? [ROW_HASH] : primaryKey.map((c) => c.dest),
        columns: Object.fromEntries([...(noKey ? [[ROW_HASH, 'string'] as const] : []), ...columns.map((c) => [c.dest, c.destType] as const)]),
        description: `${display} (${source.kind})${source.comment ? `: ${source.comment}` : ''}`,
      },
    };
  });

  const planOf = (key: string, setting: string): TablePlan => {
    const table = match(key, setting);
    const plan = plans.find((p) => p.source === table);
    if (!plan) throw new ConfigError(`${setting} names table "${key}", which is not replicated (see include_tables / exclude_tables)`);
    return plan;
  };

  const cursorOverrides = new Map<TablePlan, PlannedColumn>();
  for (const [key, columnName] of Object.entries(secrets.cursor_columns)) {
    const plan = planOf(key, 'cursor_columns');
    const column = findColumn(plan, columnName, 'cursor_columns');
    if (['json', 'xml', 'point', 'polygon', 'line', 'circle', 'box', 'path', 'lseg'].includes(column.baseType)) {
      throw new ConfigError(`cursor_columns: column "${column.name}" of ${plan.display} has type ${column.type}, which cannot be ordered; choose a timestamp or number column`);
    }
    cursorOverrides.set(plan, column);
  }
  for (const plan of plans) {
    if (plan.method === 'ctid') continue;
    const cursor = cursorOverrides.get(plan) ?? plan.columns.find((c) => c.name === DEFAULT_CURSOR_COLUMN) ?? null;
    plan.cursor = cursor;
    plan.method = cursor ? 'incremental' : 'reload';
  }
  for (const plan of plans) {
    if (secrets.region === undefined) continue;
    const region = plan.columns.find((c) => c.name === 'region');
    if (region) plan.filters.push({column: region, value: secrets.region, origin: 'region'});
  }
  for (const [key, filters] of Object.entries(secrets.table_filters)) {
    const plan = planOf(key, 'table_filters');
    for (const [columnName, value] of Object.entries(filters)) {
      plan.filters.push({column: findColumn(plan, columnName, 'table_filters'), value, origin: 'table_filters'});
    }
  }
  return plans.sort((a, b) => (a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0));
}
