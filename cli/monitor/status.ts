// ./fivetran monitor status: every connection with its health, last success, last failure and delay,
// worst first, and a summary line per tenant. Reads the account live with the connector's own check.
import {collectCheck, formatMinutes, HEALTH_RANK, HEALTHS, timestampMs, type ConnectionRow, type Health} from '../../connectors/monitoring/public.js';
import {formatTable} from '../output.js';
import {apiFromEnv, settingsFromOptions, type MonitorCommonOptions} from './common.js';

export interface MonitorStatusOptions extends MonitorCommonOptions {
  group?: string;
  tenant?: string;
  tenantPattern?: string;
  delayFactor?: number;
  json?: boolean;
}

export interface TenantSummary {
  tenant_id: string | null;
  connections: number;
  health: Partial<Record<Health, number>>;
}

export interface StatusResult {
  checked_at: string;
  connections: ConnectionRow[];
  tenants: TenantSummary[];
}

/** Worst health first; within a health the longest delay first, then tenant and id for a stable order. */
export function sortWorstFirst<T extends Pick<ConnectionRow, 'health' | 'delay_minutes' | 'tenant_id' | 'connection_id'>>(rows: T[]): T[] {
  return [...rows].sort(
    (a, b) => HEALTH_RANK[a.health] - HEALTH_RANK[b.health] ||
      (b.delay_minutes ?? 0) - (a.delay_minutes ?? 0) ||
      (a.tenant_id ?? '\uffff').localeCompare(b.tenant_id ?? '\uffff') ||
      a.connection_id.localeCompare(b.connection_id),
  );
}

export function summarizeTenants(rows: Pick<ConnectionRow, 'tenant_id' | 'health'>[]): TenantSummary[] {
  const byTenant = new Map<string | null, TenantSummary>();
  for (const row of rows) {
    let summary = byTenant.get(row.tenant_id);
    if (!summary) byTenant.set(row.tenant_id, (summary = {tenant_id: row.tenant_id, connections: 0, health: {}}));
    summary.connections++;
    summary.health[row.health] = (summary.health[row.health] ?? 0) + 1;
  }
  const worst = (s: TenantSummary) => Math.min(...Object.keys(s.health).map((h) => HEALTH_RANK[h as Health]));
  return [...byTenant.values()].sort((a, b) => worst(a) - worst(b) || (a.tenant_id ?? '\uffff').localeCompare(b.tenant_id ?? '\uffff'));
}

export function summaryLine(summary: TenantSummary): string {
  const counts = HEALTHS.filter((h) => summary.health[h]).map((h) => `${summary.health[h]} ${h}`).join(', ');
  return `${summary.tenant_id ?? '(no tenant)'}: ${summary.connections} connection${summary.connections === 1 ? '' : 's'} (${counts})`;
}

const ago = (iso: string | null, now: number): string => {
  const ms = timestampMs(iso);
  return ms === null ? 'never' : `${formatMinutes(Math.max(0, Math.floor((now - ms) / 60_000)))} ago`;
};

export async function monitorStatus(options: MonitorStatusOptions): Promise<StatusResult> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const api = apiFromEnv(options.env, options.retries);
  const settings = settingsFromOptions({...options, env: options.env});
  const check = await collectCheck(api, settings);
  const rows = sortWorstFirst(check.connections.filter((row) => options.tenant === undefined || row.tenant_id === options.tenant));
  const result: StatusResult = {checked_at: check.checkedAt, connections: rows, tenants: summarizeTenants(rows)};
  if (options.json) {
    write(JSON.stringify(result, null, 2) + '\n');
    return result;
  }
  const now = Date.parse(check.checkedAt);
  const table = rows.map((row) => ({
    health: row.health,
    tenant: row.tenant_id ?? '',
    connection: row.connection_id,
    schema: row.schema_name,
    service: row.service,
    'last success': ago(row.succeeded_at, now),
    'last failure': ago(row.failed_at, now),
    delay: row.health === 'delayed' && row.delay_minutes ? formatMinutes(row.delay_minutes) : '',
  }));
  write(`${formatTable(table)}\n\n${result.tenants.map(summaryLine).join('\n')}\n`);
  return result;
}
