// Destination names: `<schema>_<table>` and column names in snake_case, whatever the source spelled
// ("Order", "select", "my table", "OrderItems"). Two source names that fold to the same destination name
// are told apart by a suffix, so no table or column silently overwrites another.

/** `OrderItems` → `order_items`, `my table` → `my_table`, `"select"` → `select`, `2023 sales` → `_2023_sales`. */
export function snakeCase(name: string): string {
  const folded = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (folded === '') return '_';
  return /^[0-9]/.test(folded) ? `_${folded}` : folded;
}

/** The destination table of a source table. */
export function destinationTableName(schema: string, table: string): string {
  return `${snakeCase(schema)}_${snakeCase(table)}`;
}

/** What table_prefix may be: a name Fivetran keeps as it is (letters, digits, underscores; not a digit first). */
export const TABLE_PREFIX_RULE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * The destination table under table_prefix, as the original connector named them: the prefix, then the
 * table in snake_case (no schema), in the prefix's case: `SOURCE_FIVETRAN_CONNECTOR` and `Orders` →
 * `SOURCE_FIVETRAN_CONNECTOR_ORDERS`, `src_` and `OrderItems` → `src_order_items`. A prefix with no lower-case
 * letter makes the whole name upper case; any other keeps the snake_case table as it is.
 */
export function prefixedTableName(prefix: string, table: string): string {
  const name = snakeCase(table).replace(/^_+/, '');
  const joined = `${prefix}${prefix.endsWith('_') ? '' : '_'}${name}`;
  return /[a-z]/.test(prefix) ? joined : joined.toUpperCase();
}

/**
 * Assigns each name a unique destination name: the snake_case form, or that form with `_2`, `_3`, ... when an
 * earlier name (in the given order) or a reserved name already took it. The order must be stable (catalog
 * order) so a name keeps its destination from one sync to the next.
 */
export function uniqueNames(names: readonly string[], fold: (name: string) => string, reserved: readonly string[] = []): string[] {
  const taken = new Set(reserved);
  return names.map((name) => {
    const base = fold(name);
    let candidate = base;
    for (let n = 2; taken.has(candidate); n++) candidate = `${base}_${n}`;
    taken.add(candidate);
    return candidate;
  });
}

/** `schema.table` as a person writes it (unquoted unless needed), for messages. */
export function displayName(schema: string, table: string): string {
  const part = (name: string) => (/^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);
  return `${part(schema)}.${part(table)}`;
}
