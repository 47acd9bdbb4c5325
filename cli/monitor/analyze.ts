// ./fivetran monitor analyze: the summary a person reads, from the local warehouse (the original toolkit's
// analyze_fivetran_quickstart.py). From the monitoring function's tables (its latest check): connections by
// health per tenant, the problems Fivetran reports most, and from alert_history the alerts open at the latest
// check and those resolved in the last 7 days, with how long each lasted. From the monitoring views over the Platform
// Connector's tables (fivetran_metadata, synced into the warehouse): top errors, the slowest syncs, monthly
// active rows by connection and month, and this week's schema changes. When those tables are there and the
// views are not, it creates them (sql/monitoring for DuckDB, as `./fivetran sql render monitoring --dialect
// duckdb` writes them) and says so. A section whose data is missing says how to get it.
import path from 'node:path';
import {DEFAULT_WAREHOUSE_FILE, quoteIdent} from '../../emulator/warehouse.js';
import {formatDuration, HEALTH_RANK, HEALTHS, type Health} from '../../connectors/monitoring/public.js';
import {CliConfigError} from '../errors.js';
import {formatTable} from '../output.js';
import {renderViews} from '../sql.js';
import {projectRoot} from '../../project/root.js';
import {Warehouse} from '../../emulator/warehouse.js';
import {openExistingWarehouse} from '../warehouse.js';
import {demoWarehouseHint, type MonitorCommonOptions} from './common.js';

export interface MonitorAnalyzeOptions extends MonitorCommonOptions {
  warehouse?: string;
  /** the schema the monitoring function writes to (default monitoring) */
  schema?: string;
  /** the schema of the monitoring views (default fivetran_monitoring) */
  viewsSchema?: string;
  /** rows per list (default 10) */
  top?: number;
  json?: boolean;
  now?: () => Date;
}

export interface AnalyzeSection {
  title: string;
  rows: Record<string, unknown>[];
  /** why the section is empty and how to fill it, when it is */
  missing?: string;
}

export interface AnalyzeResult {
  warehouse: string;
  checked_at: string | null;
  sections: AnalyzeSection[];
}

const VIEWS_HINT = "sync the Platform Connector (Fivetran's own metadata, schema fivetran_metadata) into the warehouse";

export async function monitorAnalyze(options: MonitorAnalyzeOptions = {}): Promise<AnalyzeResult> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const cwd = options.cwd ?? process.cwd();
  let root: string | undefined;
  try {
    root = projectRoot(cwd);
  } catch {
    root = undefined; // --warehouse works outside a project
  }
  const file = options.warehouse ? path.resolve(cwd, options.warehouse) : path.join(root ?? cwd, DEFAULT_WAREHOUSE_FILE);
  const hint = demoWarehouseHint(file, {root, cwd});
  const schema = options.schema ?? 'monitoring';
  const views = options.viewsSchema ?? 'fivetran_monitoring';
  const top = options.top ?? 10;
  if (!Number.isInteger(top) || top < 1) throw new CliConfigError(`--top must be a whole number of rows (1 or more), not ${top}`);
  const now = options.now?.() ?? new Date();
  let warehouse = await openExistingWarehouse(file, `no warehouse at ${file}; sync the monitoring function first (./fivetran sync monitoring --secrets FILE)${hint}`);
  const notes: string[] = [];
  try {
    const relations = async (name: string) =>
      new Set((await warehouse.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${name.replaceAll("'", "''")}'`)).rows.map((row) => String(row.table_name)));
    const monitoring = await relations(schema);
    let viewSet = await relations(views);
    if (!viewSet.has('connection_status') && root && (await relations('fivetran_metadata')).has('log')) {
      // the Platform Connector's tables are there, the views not yet: create them, once
      await warehouse.close();
      warehouse = await Warehouse.open(file);
      const rendered = renderViews(root, {set: 'monitoring', dialect: 'duckdb', targetSchema: views});
      for (const view of rendered) await warehouse.query(view.sql);
      notes.push(`created the ${rendered.length} monitoring views in ${views}`);
      viewSet = await relations(views);
    }
    if (!monitoring.has('connections') && !viewSet.has('connection_status')) {
      throw new CliConfigError(`the warehouse has neither ${schema}.connections nor the ${views} views; sync the monitoring function first, or pass --schema (the function's name in deploy.yaml)${hint}`);
    }
    const s = quoteIdent(schema);
    const v = (view: string) => `${quoteIdent(views)}.${quoteIdent(view)}`;
    const sections: AnalyzeSection[] = [];
    let checkedAt: string | null = null;

    if (monitoring.has('connections')) {
      const latest = `(SELECT max(checked_at) FROM ${s}.connections)`;
      const [check] = (await warehouse.query(`SELECT max(checked_at) AS at FROM ${s}.connections`)).rows;
      checkedAt = check?.at ? String(check.at) : null;
      const counts = (await warehouse.query(`SELECT coalesce(tenant_id, '(none)') AS tenant, health, count(*) AS n FROM ${s}.connections WHERE checked_at = ${latest} GROUP BY 1, 2`)).rows;
      const byTenant = new Map<string, Record<string, unknown>>();
      for (const row of counts) {
        const tenant = String(row.tenant);
        const entry = byTenant.get(tenant) ?? {tenant, connections: 0};
        entry[String(row.health)] = Number(row.n);
        entry.connections = Number(entry.connections) + Number(row.n);
        byTenant.set(tenant, entry);
      }
      const present = HEALTHS.filter((health) => counts.some((row) => row.health === health));
      const worst = (entry: Record<string, unknown>) => Math.min(...present.filter((h) => entry[h]).map((h) => HEALTH_RANK[h as Health]));
      sections.push({
        title: 'Connections by health per tenant (latest check)',
        rows: [...byTenant.values()].sort((a, b) => worst(a) - worst(b) || String(a.tenant).localeCompare(String(b.tenant))).map((entry) => ({
          tenant: entry.tenant,
          connections: entry.connections,
          ...Object.fromEntries(present.map((health) => [health, entry[health] ?? 0])),
        })),
      });
      sections.push({
        title: 'Problems Fivetran reports (latest check)',
        rows: (
          await warehouse.query(
            `SELECT health, coalesce(task_message, warning_message) AS message, count(*) AS connections, min(schema_name) AS example
               FROM ${s}.connections WHERE checked_at = ${latest} AND coalesce(task_message, warning_message) IS NOT NULL
               GROUP BY 1, 2 ORDER BY connections DESC, message LIMIT ${top}`,
          )
        ).rows,
      });
    } else {
      sections.push({title: 'Connections by health per tenant', rows: [], missing: `no ${schema}.connections table: sync the monitoring function (./fivetran sync monitoring --secrets FILE)${hint}`});
    }

    // the alert lifecycle the function keeps (an alert opens once, is seen at every check, resolves when it clears)
    if (monitoring.has('alert_history')) {
      const withDuration = (label: string) => ({seconds, ...row}: Record<string, unknown>) => ({...row, [label]: formatDuration(Number(seconds) * 1000)});
      const open = await warehouse.query(
        `SELECT severity, rule, schema_name, connection_id, tenant_id, opened_at, last_seen_at, epoch(last_seen_at) - epoch(opened_at) AS seconds
           FROM ${s}.alert_history WHERE resolved_at IS NULL
           ORDER BY CASE severity WHEN 'critical' THEN 0 ELSE 1 END, opened_at LIMIT ${top}`,
      );
      sections.push({title: 'Alerts open at the latest check', rows: open.rows.map(withDuration('open_for'))});
      const weekAgo = new Date(now.getTime() - 7 * 86_400_000).toISOString();
      const resolved = await warehouse.query(
        // resolved_at is a VARCHAR column in a warehouse that has seen only open alerts (every value null): cast
        `SELECT schema_name, rule, connection_id, tenant_id, opened_at, CAST(resolved_at AS TIMESTAMPTZ) AS resolved_at,
                epoch(CAST(resolved_at AS TIMESTAMPTZ)) - epoch(opened_at) AS seconds
           FROM ${s}.alert_history WHERE CAST(resolved_at AS TIMESTAMPTZ) >= TIMESTAMPTZ '${weekAgo}'
           ORDER BY 6 DESC LIMIT ${top}`,
      );
      sections.push({title: 'Alerts resolved in the last 7 days', rows: resolved.rows.map(withDuration('lasted'))});
    } else {
      sections.push({title: 'Alerts open at the latest check', rows: [], missing: `no ${schema}.alert_history table: sync the monitoring function again (it writes the alerts' lifecycle there)`});
    }

    const fromView = async (title: string, view: string, sql: string) => {
      if (!viewSet.has(view)) sections.push({title, rows: [], missing: `no ${views}.${view} view: ${VIEWS_HINT}`});
      else sections.push({title, rows: (await warehouse.query(sql)).rows});
    };
    await fromView('Top errors', 'error_reporting', `SELECT connection_name, severity, message, occurrences, last_seen_at FROM ${v('error_reporting')} ORDER BY occurrences DESC, last_seen_at DESC LIMIT ${top}`);
    await fromView(
      'Slowest syncs',
      'sync_performance',
      `SELECT connection_name, sync_started_at, duration_seconds, sync_status, rows_modified FROM ${v('sync_performance')} WHERE duration_seconds IS NOT NULL ORDER BY duration_seconds DESC LIMIT ${top}`,
    );
    await fromView(
      'Monthly active rows by connection and month',
      'monthly_active_rows',
      `SELECT measured_month, connection_name, sum(incremental_rows) AS incremental_rows, sum(paid_rows) AS paid_rows FROM ${v('monthly_active_rows')} GROUP BY 1, 2 ORDER BY measured_month DESC, incremental_rows DESC LIMIT ${top * 3}`,
    );
    const weekAgo = new Date(now.getTime() - 7 * 86_400_000).toISOString();
    await fromView(
      'Schema changes in the last 7 days',
      'schema_changes',
      `SELECT changed_at, connection_name, change_type, schema_name, table_name FROM ${v('schema_changes')} WHERE changed_at >= TIMESTAMPTZ '${weekAgo}' ORDER BY changed_at DESC LIMIT ${top}`,
    );

    const result: AnalyzeResult = {warehouse: file, checked_at: checkedAt, sections};
    if (options.json) write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const text = sections.map((section) => `${section.title}\n${section.missing ? `  (${section.missing})` : section.rows.length ? formatTable(section.rows) : '  (none)'}`);
      write(`${path.relative(cwd, file) || file}${checkedAt ? `, latest check ${checkedAt}` : ''}${notes.length ? ` (${notes.join('; ')})` : ''}\n\n${text.join('\n\n')}\n`);
    }
    return result;
  } finally {
    await warehouse.close();
  }
}
