// ./fivetran warehouse query "<sql>": runs SQL on the local DuckDB warehouse that ./fivetran sync and
// ./fivetran demo write (one schema per function) and prints the result as a table, or JSON with --json.
import {existsSync} from 'node:fs';
import path from 'node:path';
import {DEFAULT_WAREHOUSE_FILE, Warehouse, type QueryResult} from '../emulator/warehouse.js';
import {projectRoot} from '../project/root.js';
import {CliConfigError, CommandFailed, UsageError} from './errors.js';
import {formatTable} from './output.js';

export interface WarehouseQueryOptions {
  sql: string;
  warehouse?: string;
  json?: boolean;
  cwd?: string;
  write?: (text: string) => void;
}

/** Opens a warehouse file that must exist, read-only; a missing or locked file is a one-line CLI error. */
export async function openExistingWarehouse(file: string, missingMessage: string): Promise<Warehouse> {
  if (!existsSync(file)) throw new CliConfigError(missingMessage);
  try {
    return await Warehouse.open(file, {readOnly: true});
  } catch (error) {
    throw new CliConfigError((error as Error).message);
  }
}

export async function queryWarehouse(options: WarehouseQueryOptions): Promise<QueryResult> {
  const cwd = options.cwd ?? process.cwd();
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  if (!options.sql.trim()) throw new UsageError('give the SQL to run, e.g. ./fivetran warehouse query "select * from information_schema.tables"');
  const file = options.warehouse ? path.resolve(cwd, options.warehouse) : path.join(projectRoot(cwd), DEFAULT_WAREHOUSE_FILE);
  const warehouse = await openExistingWarehouse(
    file,
    `no warehouse at ${path.relative(cwd, file) || file} yet; run ./fivetran sync <function> --secrets <file> first (or ./fivetran demo, then --warehouse .fivetran/demo/warehouse.duckdb)`,
  );
  try {
    let result: QueryResult;
    try {
      result = await warehouse.query(options.sql);
    } catch (error) {
      throw new CommandFailed(`query failed: ${(error as Error).message.split('\n')[0]}`);
    }
    if (options.json) write(JSON.stringify(result.rows, null, 2) + '\n');
    else write(`${formatTable(result.rows, result.columns)}\n${result.rows.length > 0 ? `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})\n` : ''}`);
    return result;
  } finally {
    await warehouse.close();
  }
}
