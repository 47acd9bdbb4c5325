// ./fivetran monitor dashboard: one self-contained HTML page (templates/monitor/dashboard.html.hbs: inline
// CSS, inline SVG charts, a few lines of inline script for filtering; no external asset, opens from disk
// without a server or network) with the health counts, a table of connections per tenant, and charts of
// health, sync outcomes and sync durations over the checks the monitoring function kept in the local DuckDB
// warehouse, the open alerts (the ledger of `monitor alerts` when there is one, else the function's
// alert_history), the recent failed syncs with their messages, the recent schema changes (the monitoring
// views over the Platform Connector), each list with an empty state. --live reads the API instead (one
// check, so no history).
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {collectCheck, formatMinutes, HEALTH_RANK, HEALTHS, timestampMs, type ConnectionRow, type Health} from '../../connectors/monitoring/public.js';
import {DEFAULT_WAREHOUSE_FILE, quoteIdent} from '../../emulator/warehouse.js';
import {projectRoot} from '../../project/root.js';
import {CliConfigError} from '../errors.js';
import {compileTemplate, TEMPLATES_DIR} from '../templates.js';
import {openExistingWarehouse} from '../warehouse.js';
import {apiFromEnv, demoWarehouseHint, settingsFromOptions, type MonitorCommonOptions} from './common.js';
import {DEFAULT_LEDGER_FILE, readLedger} from './ledger-file.js';
import {sortWorstFirst, summarizeTenants} from './status.js';

export interface MonitorDashboardOptions extends MonitorCommonOptions {
  out?: string;
  warehouse?: string;
  schema?: string;
  live?: boolean;
  tenantPattern?: string;
  /** checks shown in the history charts (latest first kept); default 60 */
  historyChecks?: number;
  /** the alert ledger of `monitor alerts` (default .fivetran/monitor/alerts.json under cwd); its open alerts, when it exists */
  ledger?: string;
  /** the schema of the monitoring views over the Platform Connector (default fivetran_monitoring) */
  viewsSchema?: string;
}

export type DashboardConnection = Pick<ConnectionRow,
  'connection_id' | 'schema_name' | 'service' | 'tenant_id' | 'group_name' | 'health' | 'succeeded_at' | 'failed_at' | 'delay_minutes' | 'sync_frequency' | 'schedule_type'>;

export interface CheckHistory {
  checked_at: string;
  health: Partial<Record<Health, number>>;
  successes: number;
  failures: number;
  /** success durations measured in this check, seconds */
  avg_duration_seconds: number | null;
  max_duration_seconds: number | null;
}

/** A failed sync: its failure time and the message Fivetran gave with it (the check that saw it first). */
export interface DashboardError {
  failed_at: string;
  connection_id: string;
  schema_name: string;
  tenant_id: string | null;
  message: string | null;
}

export interface DashboardSchemaChange {
  changed_at: string;
  connection: string;
  change_type: string;
  schema_name: string | null;
  table_name: string | null;
}

export interface DashboardAlert {
  connection_id: string;
  schema_name: string;
  tenant_id: string | null;
  rule: string;
  severity: 'critical' | 'warning';
  message: string;
  /** when it opened (when the problem began, as far as the API tells); null when unknown */
  opened_at: string | null;
}

/** A list of the page with where its rows come from, or why it has none and how to get them. */
export interface DashboardList<T> {
  rows: T[];
  /** e.g. `alert ledger .fivetran/monitor/alerts.json` */
  source: string;
  /** why the list cannot be filled, and how to fill it */
  missing?: string;
}

export interface DashboardData {
  source: string;
  checked_at: string;
  connections: DashboardConnection[];
  history: CheckHistory[];
  alerts: DashboardList<DashboardAlert>;
  errors: DashboardList<DashboardError>;
  schemaChanges: DashboardList<DashboardSchemaChange>;
}

/** Rows per list (recent errors, schema changes). */
const RECENT = 20;
const VIEWS_HINT = "sync the Platform Connector (Fivetran's own metadata, schema fivetran_metadata) into the warehouse; ./fivetran monitor analyze then creates the views";

export const HEALTH_COLORS: Readonly<Record<Health, string>> = {
  broken: '#991b1b', failing: '#dc2626', delayed: '#d97706', incomplete: '#7c3aed', paused: '#6b7280', syncing: '#2563eb', healthy: '#16a34a',
};

const escapeHtml = (value: unknown): string =>
  String(value ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const isHealth = (value: unknown): value is Health => typeof value === 'string' && value in HEALTH_RANK;
const num = (value: unknown): number | null => (value === null || value === undefined || value === '' ? null : Number(value));
const iso = (value: unknown): string | null => (value === null || value === undefined ? null : new Date(String(value)).toISOString());
const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const isSeverity = (value: unknown): value is 'critical' | 'warning' => value === 'critical' || value === 'warning';
const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** Worst first, then oldest first: the order of `monitor alerts`' ledger. */
function worstFirst(alerts: DashboardAlert[]): DashboardAlert[] {
  return [...alerts].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1) || (a.opened_at ?? '').localeCompare(b.opened_at ?? '') || a.connection_id.localeCompare(b.connection_id));
}

const alertOf = (row: Record<string, unknown>, openedAt: unknown): DashboardAlert => ({
  connection_id: String(row.connection_id),
  schema_name: String(row.schema_name ?? ''),
  tenant_id: text(row.tenant_id),
  rule: String(row.rule),
  severity: isSeverity(row.severity) ? row.severity : 'warning',
  message: String(row.message ?? ''),
  opened_at: iso(openedAt),
});

/** The open alerts of the alert ledger `monitor alerts` keeps, or null when there is none. */
function ledgerAlerts(file: string, cwd: string): DashboardList<DashboardAlert> | null {
  if (!existsSync(file)) return null;
  const ledger = readLedger(file);
  return {rows: worstFirst(ledger.open.map((alert) => alertOf(alert, alert.opened_at))), source: `alert ledger ${path.relative(cwd, file) || file}`};
}
/** Reads the monitoring tables of the warehouse: the latest check's connections and per-check history. */
export async function readWarehouse(file: string, schema: string, historyChecks = 60, options: {root?: string; cwd?: string; viewsSchema?: string} = {}): Promise<DashboardData> {
  const demoHint = demoWarehouseHint(file, options);
  const warehouse = await openExistingWarehouse(file, `no warehouse at ${file}; sync the monitoring function first (./fivetran sync monitoring --secrets FILE), or use --live${demoHint}`);
  try {
    const tables = new Set((await warehouse.tables(schema)).map((t) => t.table));
    if (!tables.has('connections')) {
      throw new CliConfigError(`the warehouse has no ${schema}.connections table; sync the monitoring function first, or pass --schema (the function's name in deploy.yaml)${demoHint}`);
    }
    const s = quoteIdent(schema);
    const latest = await warehouse.query(`SELECT * FROM ${s}.connections WHERE checked_at = (SELECT max(checked_at) FROM ${s}.connections)`);
    const checks = await warehouse.query(`SELECT DISTINCT checked_at FROM ${s}.connections ORDER BY checked_at DESC LIMIT ${Number(historyChecks)}`);
    const since = checks.rows.at(-1)?.checked_at;
    const history = new Map<string, CheckHistory>();
    for (const {checked_at} of [...checks.rows].reverse()) {
      const at = iso(checked_at)!;
      history.set(at, {checked_at: at, health: {}, successes: 0, failures: 0, avg_duration_seconds: null, max_duration_seconds: null});
    }
    if (since !== undefined) {
      const counts = await warehouse.query(`SELECT checked_at, health, count(*) AS n FROM ${s}.connections WHERE checked_at >= (SELECT min(checked_at) FROM (SELECT DISTINCT checked_at FROM ${s}.connections ORDER BY checked_at DESC LIMIT ${Number(historyChecks)})) GROUP BY 1, 2`);
      for (const row of counts.rows) {
        const entry = history.get(iso(row.checked_at)!);
        if (entry && isHealth(row.health)) entry.health[row.health] = Number(row.n);
      }
      if (tables.has('connection_events')) {
        const events = await warehouse.query(`SELECT checked_at,
            sum(CASE WHEN event_type = 'success' THEN 1 ELSE 0 END) AS successes,
            sum(CASE WHEN event_type = 'failure' THEN 1 ELSE 0 END) AS failures,
            avg(CASE WHEN event_type = 'success' THEN duration_seconds END) AS avg_duration,
            max(CASE WHEN event_type = 'success' THEN duration_seconds END) AS max_duration
          FROM ${s}.connection_events GROUP BY checked_at`);
        for (const row of events.rows) {
          const entry = history.get(iso(row.checked_at)!);
          if (!entry) continue;
          entry.successes = Number(row.successes ?? 0);
          entry.failures = Number(row.failures ?? 0);
          entry.avg_duration_seconds = num(row.avg_duration);
          entry.max_duration_seconds = num(row.max_duration);
        }
      }
    }
    const connections = latest.rows.map((row): DashboardConnection => ({
      connection_id: String(row.connection_id),
      schema_name: String(row.schema_name ?? ''),
      service: String(row.service ?? ''),
      tenant_id: (row.tenant_id as string | null) ?? null,
      group_name: (row.group_name as string | null) ?? null,
      health: isHealth(row.health) ? row.health : 'healthy',
      succeeded_at: iso(row.succeeded_at),
      failed_at: iso(row.failed_at),
      delay_minutes: num(row.delay_minutes),
      sync_frequency: num(row.sync_frequency),
      schedule_type: (row.schedule_type as string | null) ?? null,
    }));
    const where = `warehouse ${path.basename(file)}, schema ${schema}`;

    // Failed syncs: each failure (connection, failed_at) once, with the message of the first check that saw
    // it as the connection's last completion (a failure followed by a success before any check has none).
    const failures = await warehouse.query(`SELECT connection_id, schema_name, tenant_id, failed_at, message FROM (
        SELECT connection_id, schema_name, tenant_id, failed_at, coalesce(task_message, warning_message) AS message,
          row_number() OVER (PARTITION BY connection_id, failed_at ORDER BY checked_at) AS seen
        FROM ${s}.connections WHERE failed_at IS NOT NULL AND (succeeded_at IS NULL OR failed_at > succeeded_at)) AS failures
      WHERE seen = 1 ORDER BY failed_at DESC, connection_id LIMIT ${RECENT}`);
    const errors: DashboardList<DashboardError> = {
      source: `${where}, connections`,
      rows: failures.rows.map((row) => ({failed_at: iso(row.failed_at)!, connection_id: String(row.connection_id), schema_name: String(row.schema_name ?? ''), tenant_id: text(row.tenant_id), message: text(row.message)})),
    };

    let alerts: DashboardList<DashboardAlert>;
    if (tables.has('alert_history')) {
      const open = await warehouse.query(`SELECT * FROM ${s}.alert_history WHERE resolved_at IS NULL`);
      alerts = {source: `${where}, alert_history`, rows: worstFirst(open.rows.map((row) => alertOf(row, row.opened_at)))};
    } else if (tables.has('alerts')) {
      // a warehouse from before alert_history: the problems of the latest check, open since the API tells
      const open = await warehouse.query(`SELECT * FROM ${s}.alerts WHERE checked_at = (SELECT max(checked_at) FROM ${s}.alerts)`);
      alerts = {source: `${where}, alerts`, rows: worstFirst(open.rows.map((row) => alertOf(row, row.since)))};
    } else {
      alerts = {source: where, rows: []};
    }

    const views = options.viewsSchema ?? 'fivetran_monitoring';
    const viewSet = new Set((await warehouse.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = ${literal(views)}`)).rows.map((row) => String(row.table_name)));
    let schemaChanges: DashboardList<DashboardSchemaChange>;
    if (viewSet.has('schema_changes')) {
      const changes = await warehouse.query(`SELECT changed_at, coalesce(connection_name, connection_id) AS connection, change_type, schema_name, table_name
        FROM ${quoteIdent(views)}.schema_changes ORDER BY changed_at DESC LIMIT ${RECENT}`);
      schemaChanges = {
        source: `warehouse ${path.basename(file)}, ${views}.schema_changes`,
        rows: changes.rows.map((row) => ({changed_at: iso(row.changed_at)!, connection: String(row.connection ?? ''), change_type: String(row.change_type ?? ''), schema_name: text(row.schema_name), table_name: text(row.table_name)})),
      };
    } else {
      schemaChanges = {source: `warehouse ${path.basename(file)}`, rows: [], missing: `no ${views}.schema_changes view: ${VIEWS_HINT}`};
    }
    return {source: where, checked_at: iso(latest.rows[0]?.checked_at) ?? new Date().toISOString(), connections, history: [...history.values()], alerts, errors, schemaChanges};
  } finally {
    await warehouse.close();
  }
}

// --- charts: plain SVG, one <rect> per value, with <title> tooltips ---

const CHART_W = 720;
const CHART_H = 200;
const PAD = {left: 44, right: 12, top: 12, bottom: 28};

function axis(max: number, unit: string): string {
  const ticks = [0, 0.5, 1].map((f) => {
    const value = max * f;
    const y = PAD.top + (CHART_H - PAD.top - PAD.bottom) * (1 - f);
    const label = unit === 's' ? formatSeconds(value) : String(Math.round(value));
    return `<line x1="${PAD.left}" x2="${CHART_W - PAD.right}" y1="${y}" y2="${y}" class="grid"/><text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end">${escapeHtml(label)}</text>`;
  });
  return ticks.join('');
}

function xLabels(history: CheckHistory[], slot: number): string {
  if (history.length === 0) return '';
  const picks = new Set([0, Math.floor((history.length - 1) / 2), history.length - 1]);
  return [...picks].map((i) => {
    const x = PAD.left + slot * i + slot / 2;
    return `<text x="${x}" y="${CHART_H - 8}" text-anchor="middle">${escapeHtml(history[i]!.checked_at.slice(5, 19).replace('T', ' '))}</text>`;
  }).join('');
}

function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${Number(seconds.toFixed(1))}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

function emptyChart(id: string, message: string): string {
  return `<svg id="${id}" class="chart" viewBox="0 0 ${CHART_W} ${CHART_H}" role="img"><text x="${CHART_W / 2}" y="${CHART_H / 2}" text-anchor="middle" class="empty">${escapeHtml(message)}</text></svg>`;
}

export function healthChart(history: CheckHistory[]): string {
  if (history.length === 0) return emptyChart('chart-health', 'no checks yet');
  const totals = history.map((h) => Object.values(h.health).reduce((a, b) => a + (b ?? 0), 0));
  const max = Math.max(1, ...totals);
  const plotH = CHART_H - PAD.top - PAD.bottom;
  const slot = (CHART_W - PAD.left - PAD.right) / history.length;
  const bars = history.map((check, i) => {
    let y = PAD.top + plotH;
    return [...HEALTHS].reverse().map((health) => {
      const n = check.health[health] ?? 0;
      if (!n) return '';
      const h = (n / max) * plotH;
      y -= h;
      return `<rect class="bar" data-check="${escapeHtml(check.checked_at)}" data-health="${health}" data-value="${n}" x="${PAD.left + slot * i + slot * 0.15}" y="${y.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="${HEALTH_COLORS[health]}"><title>${escapeHtml(check.checked_at)}: ${n} ${health}</title></rect>`;
    }).join('');
  });
  return `<svg id="chart-health" class="chart" viewBox="0 0 ${CHART_W} ${CHART_H}" role="img" aria-label="connections by health per check">${axis(max, '')}${bars.join('')}${xLabels(history, slot)}</svg>`;
}

export function outcomesChart(history: CheckHistory[]): string {
  if (history.every((h) => h.successes === 0 && h.failures === 0)) return emptyChart('chart-outcomes', 'no sync completions seen between checks yet');
  const max = Math.max(1, ...history.flatMap((h) => [h.successes, h.failures]));
  const plotH = CHART_H - PAD.top - PAD.bottom;
  const slot = (CHART_W - PAD.left - PAD.right) / history.length;
  const bars = history.map((check, i) => [['success', check.successes, HEALTH_COLORS.healthy, 0], ['failure', check.failures, HEALTH_COLORS.failing, 1]].map(([kind, n, color, k]) => {
    const h = ((n as number) / max) * plotH;
    return `<rect class="bar" data-check="${escapeHtml(check.checked_at)}" data-outcome="${kind}" data-value="${n}" x="${(PAD.left + slot * i + slot * 0.1 + (k as number) * slot * 0.4).toFixed(1)}" y="${(PAD.top + plotH - h).toFixed(1)}" width="${(slot * 0.4).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${escapeHtml(check.checked_at)}: ${n} ${kind === 'success' ? 'successes' : 'failures'}</title></rect>`;
  }).join(''));
  return `<svg id="chart-outcomes" class="chart" viewBox="0 0 ${CHART_W} ${CHART_H}" role="img" aria-label="sync successes and failures per check">${axis(max, '')}${bars.join('')}${xLabels(history, slot)}</svg>`;
}

export function durationsChart(history: CheckHistory[]): string {
  const measured = history.filter((h) => h.avg_duration_seconds !== null);
  if (measured.length === 0) return emptyChart('chart-durations', 'no sync durations measured yet (a check must see a sync running, then its success)');
  const max = Math.max(1, ...measured.map((h) => h.max_duration_seconds ?? h.avg_duration_seconds ?? 0));
  const plotH = CHART_H - PAD.top - PAD.bottom;
  const slot = (CHART_W - PAD.left - PAD.right) / history.length;
  const bars = history.map((check, i) => {
    if (check.avg_duration_seconds === null) return '';
    const h = (check.avg_duration_seconds / max) * plotH;
    const x = PAD.left + slot * i + slot * 0.2;
    const maxY = PAD.top + plotH - ((check.max_duration_seconds ?? 0) / max) * plotH;
    return `<rect class="bar" data-check="${escapeHtml(check.checked_at)}" data-value="${Math.round(check.avg_duration_seconds)}" x="${x.toFixed(1)}" y="${(PAD.top + plotH - h).toFixed(1)}" width="${(slot * 0.6).toFixed(1)}" height="${h.toFixed(1)}" fill="${HEALTH_COLORS.syncing}"><title>${escapeHtml(check.checked_at)}: average ${formatSeconds(check.avg_duration_seconds)}, longest ${formatSeconds(check.max_duration_seconds ?? 0)}</title></rect>` +
      `<line class="max" x1="${x.toFixed(1)}" x2="${(x + slot * 0.6).toFixed(1)}" y1="${maxY.toFixed(1)}" y2="${maxY.toFixed(1)}"/>`;
  });
  return `<svg id="chart-durations" class="chart" viewBox="0 0 ${CHART_W} ${CHART_H}" role="img" aria-label="sync durations per check">${axis(max, 's')}${bars.join('')}${xLabels(history, slot)}</svg>`;
}

const ago = (value: string | null, now: number): string => {
  const ms = timestampMs(value);
  return ms === null ? 'never' : `${formatMinutes(Math.max(0, Math.floor((now - ms) / 60_000)))} ago`;
};

let dashboardTemplate: HandlebarsTemplateDelegate | undefined;

/** The page (templates/monitor/dashboard.html.hbs) for `data`: every value HTML-escaped here, the charts as SVG. */
export function renderDashboard(data: DashboardData): string {
  dashboardTemplate ??= compileTemplate(readFileSync(path.join(TEMPLATES_DIR, 'monitor', 'dashboard.html.hbs'), 'utf8'));
  const now = Date.parse(data.checked_at);
  const rows = sortWorstFirst(data.connections);
  const tenants = summarizeTenants(rows);
  const counts = Object.fromEntries(HEALTHS.map((h) => [h, rows.filter((r) => r.health === h).length])) as Record<Health, number>;
  const name = (schema: string, id: string, tenant: string | null) => escapeHtml(`${schema} (${id}${tenant ? `, tenant ${tenant}` : ''})`);
  const list = <T>(of: DashboardList<T>, empty: string, rowsOf: (row: T) => Record<string, unknown>) => ({
    any: of.rows.length > 0,
    count: of.rows.length,
    source: escapeHtml(of.source),
    empty: escapeHtml(of.missing ?? empty),
    rows: of.rows.map(rowsOf),
  });
  return dashboardTemplate({
    alerts: list(data.alerts, 'no open alerts', (alert) => ({
      id: escapeHtml(alert.connection_id),
      severity: alert.severity,
      color: alert.severity === 'critical' ? HEALTH_COLORS.failing : HEALTH_COLORS.delayed,
      rule: escapeHtml(alert.rule.replace(/_/g, ' ')),
      name: name(alert.schema_name, alert.connection_id, alert.tenant_id),
      openedAt: escapeHtml(alert.opened_at ?? ''),
      openFor: alert.opened_at ? ago(alert.opened_at, now).replace(/ ago$/, '') : 'unknown',
      message: escapeHtml(alert.message),
    })),
    errors: list(data.errors, 'no failed syncs in the checks kept', (error) => ({
      id: escapeHtml(error.connection_id),
      failedAt: escapeHtml(error.failed_at),
      failedAgo: ago(error.failed_at, now),
      name: name(error.schema_name, error.connection_id, error.tenant_id),
      message: escapeHtml(error.message ?? '(no message: it succeeded again before a check saw it)'),
    })),
    schemaChanges: list(data.schemaChanges, "no schema changes in the Platform Connector's log", (change) => ({
      changedAt: escapeHtml(change.changed_at),
      changedAgo: ago(change.changed_at, now),
      connection: escapeHtml(change.connection),
      type: escapeHtml(change.change_type),
      target: escapeHtml([change.schema_name, change.table_name].filter(Boolean).join('.')),
    })),
    critical: counts.broken + counts.failing,
    delayed: counts.delayed,
    checkedAt: escapeHtml(data.checked_at),
    total: rows.length,
    tenantCount: tenants.length,
    tenantPlural: tenants.length === 1 ? '' : 's',
    source: escapeHtml(data.source),
    counts: HEALTHS.map((h) => ({health: h, color: HEALTH_COLORS[h], n: counts[h]})),
    healthChart: healthChart(data.history),
    outcomesChart: outcomesChart(data.history),
    durationsChart: durationsChart(data.history),
    healths: HEALTHS,
    tenants: tenants.map((tenant) => ({
      name: escapeHtml(tenant.tenant_id ?? '(no tenant)'),
      connections: tenant.connections,
      plural: tenant.connections === 1 ? '' : 's',
      summary: escapeHtml(HEALTHS.filter((h) => tenant.health[h]).map((h) => `${tenant.health[h]} ${h}`).join(', ')),
      rows: rows
        .filter((r) => r.tenant_id === tenant.tenant_id)
        .map((r) => ({
          health: r.health,
          color: HEALTH_COLORS[r.health],
          id: escapeHtml(r.connection_id),
          schema: escapeHtml(r.schema_name),
          service: escapeHtml(r.service),
          group: escapeHtml(r.group_name ?? ''),
          succeededAt: escapeHtml(r.succeeded_at ?? ''),
          succeededAgo: ago(r.succeeded_at, now),
          failedAt: escapeHtml(r.failed_at ?? ''),
          failedAgo: ago(r.failed_at, now),
          delay: r.health === 'delayed' && r.delay_minutes ? formatMinutes(r.delay_minutes) : '',
        })),
    })),
  });
}

export async function monitorDashboard(options: MonitorDashboardOptions): Promise<{file: string; data: DashboardData}> {
  const cwd = options.cwd ?? process.cwd();
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  let data: DashboardData;
  const ledgerFile = path.resolve(cwd, options.ledger ?? DEFAULT_LEDGER_FILE);
  if (options.live) {
    const api = apiFromEnv(options.env, options.retries);
    const check = await collectCheck(api, settingsFromOptions({tenantPattern: options.tenantPattern, env: options.env}));
    const health: Partial<Record<Health, number>> = {};
    for (const row of check.connections) health[row.health] = (health[row.health] ?? 0) + 1;
    data = {
      source: `live API ${options.env?.FIVETRAN_API_URL ?? process.env.FIVETRAN_API_URL ?? 'https://api.fivetran.com'}`,
      checked_at: check.checkedAt,
      connections: check.connections,
      history: [{checked_at: check.checkedAt, health, successes: 0, failures: 0, avg_duration_seconds: null, max_duration_seconds: null}],
      alerts: {source: 'live API', rows: worstFirst(check.alerts.map((alert) => alertOf({...alert}, alert.since)))},
      errors: {
        source: 'live API',
        rows: check.connections
          .filter((c) => c.failed_at && (timestampMs(c.failed_at) ?? 0) > (timestampMs(c.succeeded_at) ?? -1))
          .map((c) => ({failed_at: iso(c.failed_at)!, connection_id: c.connection_id, schema_name: c.schema_name, tenant_id: c.tenant_id, message: c.task_message ?? c.warning_message}))
          .sort((a, b) => b.failed_at.localeCompare(a.failed_at) || a.connection_id.localeCompare(b.connection_id))
          .slice(0, RECENT),
      },
      schemaChanges: {source: 'live API', rows: [], missing: 'the API has no schema change log: read the warehouse (without --live) where the Platform Connector syncs'},
    };
  } else {
    const file = options.warehouse ? path.resolve(cwd, options.warehouse) : path.join(projectRoot(cwd), DEFAULT_WAREHOUSE_FILE);
    // --warehouse works outside the project too; there is no demo warehouse to suggest then
    let root: string | undefined;
    try {
      root = projectRoot(cwd);
    } catch {
      root = undefined;
    }
    data = await readWarehouse(file, options.schema ?? 'monitoring', options.historyChecks, {root, cwd, viewsSchema: options.viewsSchema});
  }
  // the ledger of `monitor alerts` is what was sent to people: when there is one, it is the list to show
  data.alerts = ledgerAlerts(ledgerFile, cwd) ?? data.alerts;
  const out = path.resolve(cwd, options.out ?? 'dashboard.html');
  mkdirSync(path.dirname(out), {recursive: true});
  writeFileSync(out, renderDashboard(data));
  write(`wrote ${path.relative(cwd, out) || out}: ${data.connections.length} connections, ${data.history.length} check${data.history.length === 1 ? '' : 's'} of history\n`);
  return {file: out, data};
}
