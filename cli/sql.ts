// ./fivetran sql render <set> --dialect D: renders the views of sql/<set>/*.sql.hbs for one warehouse
// dialect (bigquery, snowflake, postgres, duckdb). Templates are written once; the few constructs that
// differ between warehouses (JSON extraction, timestamp differences, date truncation, regular expressions,
// identifier quoting) are handlebars helpers defined here per dialect.
// File names `NN_<view>.sql.hbs` give the creation order (views that read other views come later).
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {projectRoot} from '../project/root.js';
import {CliConfigError, UsageError} from './errors.js';
import {compileTemplate, type TemplateHelpers} from './templates.js';

export const DIALECTS = ['bigquery', 'snowflake', 'postgres', 'duckdb'] as const;
export type Dialect = (typeof DIALECTS)[number];

export interface RenderSqlOptions {
  /** the folder under sql/, e.g. monitoring */
  set: string;
  dialect: string;
  /** schema (BigQuery: [project.]dataset) of the Platform Connector's tables; default fivetran_metadata */
  sourceSchema?: string;
  /** schema the views are created in; default fivetran_monitoring */
  targetSchema?: string;
  /** the tenants table (tenant_id, tenant_name); default <target>.tenants */
  tenantsTable?: string;
  /** regular expression with one capture group giving the tenant from the connection name */
  tenantPattern?: string;
  /** write one <view>.sql per view there instead of printing */
  out?: string;
  cwd?: string;
  write?: (text: string) => void;
}

export interface RenderedView {
  view: string;
  file: string;
  sql: string;
}

export const DEFAULT_TENANT_PATTERN = '^([a-z0-9]+)_';
const SCHEMA_RULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_-]*)?$/;
const TABLE_RULE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*){0,2}$/;

/** A string literal in the dialect's syntax. BigQuery and Snowflake treat backslashes as escapes. */
export function stringLiteral(dialect: Dialect, text: string): string {
  if (dialect === 'bigquery' || dialect === 'snowflake') {
    const body = text.replace(/\\/g, '\\\\');
    return dialect === 'bigquery' ? `'${body.replace(/'/g, "\\'")}'` : `'${body.replace(/'/g, "''")}'`;
  }
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * A qualified name: "schema"."table" for PostgreSQL and DuckDB; upper-case and quoted for Snowflake
 * (Fivetran writes upper-case names there, and CONNECTION is a reserved word); one backquoted path for BigQuery.
 */
export function qualify(dialect: Dialect, ...parts: string[]): string {
  if (dialect === 'bigquery') return `\`${parts.join('.')}\``;
  if (dialect === 'snowflake') return parts.flatMap((part) => part.split('.')).map((part) => `"${part.toUpperCase()}"`).join('.');
  return parts.flatMap((part) => part.split('.')).map((part) => `"${part.replace(/"/g, '""')}"`).join('.');
}

function helpersFor(dialect: Dialect, vars: {source: string; target: string; tenantsTable: string}): TemplateHelpers {
  const args = (list: unknown[]) => list.slice(0, -1) as string[];
  const byDialect = (choices: Record<Dialect, string>) => choices[dialect];
  return {
    source: (...list: unknown[]) => qualify(dialect, vars.source, ...args(list)),
    target: (...list: unknown[]) => qualify(dialect, vars.target, ...args(list)),
    tenants_table: () => qualify(dialect, vars.tenantsTable),
    create_view: (name: string) => `CREATE OR REPLACE VIEW ${qualify(dialect, vars.target, name)} AS`,
    /** the text of one top-level key of a JSON string column; NULL when the column is not JSON */
    json_text: (column: string, key: string) => byDialect({
      postgres: `CASE WHEN ${column} ~ '^\\s*\\{' THEN CAST(${column} AS jsonb) ->> ${stringLiteral(dialect, key)} END`,
      duckdb: `CASE WHEN json_valid(${column}) THEN json_extract_string(${column}, ${stringLiteral(dialect, `$.${key}`)}) END`,
      bigquery: `JSON_EXTRACT_SCALAR(${column}, ${stringLiteral(dialect, `$.${key}`)})`,
      snowflake: `TRY_PARSE_JSON(${column})[${stringLiteral(dialect, key)}]::string`,
    }),
    cast_int: (expression: string) => byDialect({
      postgres: `CAST(${expression} AS BIGINT)`,
      duckdb: `TRY_CAST(${expression} AS BIGINT)`,
      bigquery: `SAFE_CAST(${expression} AS INT64)`,
      snowflake: `TRY_CAST(${expression} AS INTEGER)`,
    }),
    seconds_between: (from: string, to: string) => byDialect({
      postgres: `CAST(EXTRACT(EPOCH FROM (${to} - ${from})) AS BIGINT)`,
      duckdb: `date_diff('second', ${from}, ${to})`,
      bigquery: `TIMESTAMP_DIFF(${to}, ${from}, SECOND)`,
      snowflake: `DATEDIFF(second, ${from}, ${to})`,
    }),
    to_date: (expression: string) => `CAST(${expression} AS DATE)`,
    month_start: (expression: string) => byDialect({
      postgres: `CAST(date_trunc('month', ${expression}) AS DATE)`,
      duckdb: `CAST(date_trunc('month', ${expression}) AS DATE)`,
      bigquery: `DATE_TRUNC(CAST(${expression} AS DATE), MONTH)`,
      snowflake: `CAST(DATE_TRUNC('month', ${expression}) AS DATE)`,
    }),
    now: () => byDialect({postgres: 'now()', duckdb: 'current_timestamp', bigquery: 'CURRENT_TIMESTAMP()', snowflake: 'CURRENT_TIMESTAMP()'}),
    days_ago: (days: number) => byDialect({
      postgres: `now() - INTERVAL '${Number(days)} days'`,
      duckdb: `current_timestamp - INTERVAL '${Number(days)} days'`,
      bigquery: `TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${Number(days)} DAY)`,
      snowflake: `DATEADD(day, -${Number(days)}, CURRENT_TIMESTAMP())`,
    }),
    /** the first capture group of `pattern` in `expression`; NULL when it does not match */
    regex_group: (expression: string, pattern: string) => byDialect({
      postgres: `substring(${expression} from ${stringLiteral(dialect, pattern)})`,
      duckdb: `NULLIF(regexp_extract(${expression}, ${stringLiteral(dialect, pattern)}, 1), '')`,
      bigquery: `REGEXP_EXTRACT(${expression}, ${stringLiteral(dialect, pattern)})`,
      snowflake: `REGEXP_SUBSTR(${expression}, ${stringLiteral(dialect, pattern)}, 1, 1, 'e', 1)`,
    }),
    literal: (text: string) => stringLiteral(dialect, text),
  };
}

function parseDialect(value: string): Dialect {
  if ((DIALECTS as readonly string[]).includes(value)) return value as Dialect;
  throw new UsageError(`unknown dialect "${value}"; use one of ${DIALECTS.join(', ')}`);
}

/** Renders every view of a set; pure (reads the templates, writes nothing). */
export function renderViews(root: string, options: Omit<RenderSqlOptions, 'out' | 'cwd' | 'write'>): RenderedView[] {
  const dialect = parseDialect(options.dialect);
  const dir = path.join(root, 'sql', options.set);
  const templates = existsSync(dir) ? readdirSync(dir).filter((file) => file.endsWith('.sql.hbs')).sort() : [];
  if (templates.length === 0) {
    throw new CliConfigError(`no SQL templates in sql/${options.set}/ (expected NN_<view>.sql.hbs files)`);
  }
  const source = options.sourceSchema ?? 'fivetran_metadata';
  const target = options.targetSchema ?? 'fivetran_monitoring';
  const tenantsTable = options.tenantsTable ?? `${target}.tenants`;
  if (!SCHEMA_RULE.test(source)) throw new UsageError(`--source-schema "${source}" must be a schema name (BigQuery: [project.]dataset)`);
  if (!SCHEMA_RULE.test(target)) throw new UsageError(`--target-schema "${target}" must be a schema name (BigQuery: [project.]dataset)`);
  if (!TABLE_RULE.test(tenantsTable)) throw new UsageError(`--tenants-table "${tenantsTable}" must be a [schema.]table name`);
  const tenantPattern = options.tenantPattern ?? DEFAULT_TENANT_PATTERN;
  try {
    new RegExp(tenantPattern);
  } catch (error) {
    throw new UsageError(`--tenant-pattern is not a valid regular expression (${(error as Error).message})`);
  }

  const helpers = helpersFor(dialect, {source, target, tenantsTable});
  const context = {dialect, source_schema: source, target_schema: target, tenant_pattern: tenantPattern};
  return templates.map((file) => {
    const view = file.replace(/^\d+_/, '').replace(/\.sql\.hbs$/, '');
    const template = compileTemplate(readFileSync(path.join(dir, file), 'utf8'), helpers);
    const sql = template(context).replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim() + ';\n';
    return {view, file: `${view}.sql`, sql};
  });
}

/** The command: prints the views (in creation order) or writes one file per view to --out. */
export async function renderSql(options: RenderSqlOptions): Promise<RenderedView[]> {
  const cwd = options.cwd ?? process.cwd();
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const views = renderViews(projectRoot(cwd), options);
  if (options.out) {
    const out = path.resolve(cwd, options.out);
    mkdirSync(out, {recursive: true});
    for (const view of views) writeFileSync(path.join(out, view.file), view.sql);
    write(`wrote ${views.length} views for ${options.dialect} to ${path.relative(cwd, out) || '.'}: ${views.map((v) => v.view).join(', ')}\n`);
  } else {
    write(views.map((view) => `-- ${view.view}\n${view.sql}`).join('\n'));
  }
  return views;
}
