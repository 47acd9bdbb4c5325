// Which tables and columns an `Update` sends, from `UpdateRequest.selection`: the included flags for what
// Fivetran knows, and include_new_tables / include_new_schemas / include_new_columns for what it has not
// seen yet. No selection means everything. Primary key columns are always sent (Fivetran cannot drop them).
import type {Selection__Output} from './generated/fivetran_sdk/v2/Selection.js';
import type {TableSelection__Output} from './generated/fivetran_sdk/v2/TableSelection.js';

export interface TableChoice {
  included: boolean;
  /** whether Fivetran listed this table in the selection (false: it is new to Fivetran) */
  listed: boolean;
  /** the destination schema, when the selection is by schema */
  schemaName?: string;
  includesColumn(column: string): boolean;
}

const EVERYTHING: TableChoice = {included: true, listed: false, includesColumn: () => true};

function fromTable(selected: TableSelection__Output, included: boolean, primaryKey: readonly string[], schemaName?: string): TableChoice {
  const columns = selected.columns ?? {};
  const includeNew = selected.include_new_columns;
  return {
    included,
    listed: true,
    ...(schemaName !== undefined ? {schemaName} : {}),
    includesColumn: (column) => primaryKey.includes(column) || (Object.hasOwn(columns, column) ? columns[column] === true : includeNew),
  };
}

/** The choice for one table of the connector. */
export function chooseTable(selection: Selection__Output | null | undefined, table: string, primaryKey: readonly string[] = []): TableChoice {
  if (!selection) return EVERYTHING;
  if (selection.without_schema) {
    const {tables, include_new_tables: includeNew} = selection.without_schema;
    const selected = tables.find((candidate) => candidate.table_name === table);
    if (selected) return fromTable(selected, selected.included, primaryKey);
    return {...EVERYTHING, included: includeNew};
  }
  if (selection.with_schema) {
    const {schemas, include_new_schemas: includeNewSchemas} = selection.with_schema;
    for (const schema of schemas) {
      const selected = schema.tables.find((candidate) => candidate.table_name === table);
      if (selected) return fromTable(selected, schema.included && selected.included, primaryKey, schema.schema_name);
    }
    // Our connectors write to one schema; a table new to Fivetran belongs to it when there is exactly one.
    if (schemas.length === 1 && schemas[0]) {
      const only = schemas[0];
      return {included: only.included && only.include_new_tables, listed: false, schemaName: only.schema_name, includesColumn: () => true};
    }
    return {...EVERYTHING, included: includeNewSchemas};
  }
  return EVERYTHING;
}
