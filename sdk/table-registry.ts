// The tables of one sync, for both adapters (Function and Partner SDK): those the connector declares ahead
// and those it declares while syncing (declareTable). It holds the protocol's table checks, written once:
// records go only to declared tables, and a delete names a table with a primary key and carries every
// column of that key.
import {ProtocolError} from './errors.js';
import type {Row, TableSchemaEntry, TableSpec} from './types.js';

/** A table's entry in a Function response's `schema`: its primary key, when it has one. */
export function schemaEntry(spec: TableSpec | undefined): TableSchemaEntry {
  return spec?.primaryKey && spec.primaryKey.length ? {primary_key: [...spec.primaryKey]} : {};
}

export class TableRegistry {
  private readonly specs: Map<string, TableSpec>;

  constructor(
    private readonly connectorName: string,
    tables: Readonly<Record<string, TableSpec>>,
  ) {
    this.specs = new Map(Object.entries(tables));
  }

  declare(table: string, spec: TableSpec): void {
    this.specs.set(table, spec);
  }

  get(table: string): TableSpec | undefined {
    return this.specs.get(table);
  }

  /** The spec of a table the connector emits records for; undeclared tables are the connector's bug. */
  specOf(table: string): TableSpec {
    const spec = this.specs.get(table);
    if (!spec) throw new ProtocolError(`${this.connectorName} emitted records for undeclared table "${table}"; list it in tables or yield declareTable() first`);
    return spec;
  }

  /** The primary key columns of a delete from `table` (only those), checked against the table's key. */
  deleteKeys(table: string, keys: Row): Row {
    const key = this.specOf(table).primaryKey ?? [];
    if (!key.length) throw new ProtocolError(`${this.connectorName} deleted from "${table}", which has no primary key; declare one`);
    const out: Row = {};
    for (const column of key) {
      if (keys[column] === undefined) throw new ProtocolError(`${this.connectorName} deleted from "${table}" without primary key column "${column}"`);
      out[column] = keys[column];
    }
    return out;
  }

  /** The Function response's `schema`: every declared table with its primary key. */
  schema(): Record<string, TableSchemaEntry> {
    const schema: Record<string, TableSchemaEntry> = {};
    for (const [table, spec] of this.specs) schema[table] = schemaEntry(spec);
    return schema;
  }

  [Symbol.iterator](): IterableIterator<[string, TableSpec]> {
    return this.specs.entries();
  }
}
