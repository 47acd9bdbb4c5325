// postgres_tables and postgres_columns: what discovery found for every replicated table, emitted once per
// sync (at the start of each pass), so the warehouse documents its own source.
import type {Row, TableSpec} from '../../sdk/index.js';
import type {TablePlan} from './plan.js';

export const TABLES_TABLE = 'postgres_tables';
export const COLUMNS_TABLE = 'postgres_columns';

export const METADATA_SPECS: Record<string, TableSpec> = {
  [TABLES_TABLE]: {
    primaryKey: ['schema_name', 'table_name'],
    columns: {
      schema_name: 'string', table_name: 'string', destination_table: 'string', table_type: 'string', comment: 'string',
      estimated_rows: 'long', estimated_bytes: 'long', average_row_bytes: 'long', size_category: 'string',
      primary_key: 'json', cursor_column: 'string', read_method: 'string', filters: 'json', column_count: 'int',
    },
    description: 'The replicated PostgreSQL tables: type, comment, estimated size and category, how each is read',
  },
  [COLUMNS_TABLE]: {
    primaryKey: ['schema_name', 'table_name', 'column_name'],
    columns: {
      schema_name: 'string', table_name: 'string', column_name: 'string', destination_column: 'string', data_type: 'string',
      destination_type: 'string', is_nullable: 'boolean', column_default: 'string', max_length: 'int', numeric_precision: 'int',
      numeric_scale: 'int', ordinal_position: 'int', is_primary_key: 'boolean', primary_key_position: 'int',
    },
    description: 'The columns of the replicated PostgreSQL tables',
  },
};

export function tableRow(plan: TablePlan): Row {
  const {source} = plan;
  return {
    schema_name: source.schema,
    table_name: source.name,
    destination_table: plan.dest,
    table_type: source.kind,
    comment: source.comment,
    estimated_rows: source.estimatedRows,
    estimated_bytes: source.estimatedBytes,
    average_row_bytes: source.averageRowBytes,
    size_category: source.category,
    primary_key: source.primaryKey.map((c) => c.name),
    cursor_column: plan.cursor?.name ?? null,
    read_method: plan.method,
    filters: plan.filters.map((f) => ({column: f.column.name, value: f.value, from: f.origin})),
    column_count: source.columns.length,
  };
}

export function columnRows(plan: TablePlan): Row[] {
  return plan.columns.map((column) => ({
    schema_name: plan.source.schema,
    table_name: plan.source.name,
    column_name: column.name,
    destination_column: column.dest,
    data_type: column.type,
    destination_type: typeof column.destType === 'string' ? column.destType : `decimal${column.destType.precision !== undefined ? `(${column.destType.precision},${column.destType.scale ?? 0})` : ''}`,
    is_nullable: column.nullable,
    column_default: column.default,
    max_length: column.maxLength,
    numeric_precision: column.precision,
    numeric_scale: column.scale,
    ordinal_position: column.position,
    is_primary_key: column.primaryKeyPosition !== null,
    primary_key_position: column.primaryKeyPosition,
  }));
}
