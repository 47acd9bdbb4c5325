// Alerts: one per open problem of a connection at a check, with a severity and a message a person can act
// on. `critical`: broken and failing (data has stopped); `warning`: delayed, frequent failures (it recovers,
// but keeps failing) and paused when nobody said it should be.
import type {Connection} from '../../sdk/fivetran-api.js';
import {formatMinutes, type HealthAssessment} from './health.js';

export const ALERT_RULES = ['broken', 'failing', 'delayed', 'frequent_failures', 'paused'] as const;
export type AlertRule = (typeof ALERT_RULES)[number];
export type Severity = 'critical' | 'warning';
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = {critical: 0, warning: 1};

export interface Alert {
  checked_at: string;
  connection_id: string;
  rule: AlertRule;
  severity: Severity;
  tenant_id: string | null;
  group_id: string;
  group_name: string | null;
  schema_name: string;
  service: string;
  /** when the problem began, as far as the API tells (failed_at, last success); null when unknown */
  since: string | null;
  message: string;
}

export interface AlertOptions {
  delayFactor: number;
  errorWindowHours: number;
  frequentFailureCount: number;
  /** connection ids or schema names that are paused on purpose */
  expectedPaused: ReadonlySet<string>;
}

export interface AlertSubject {
  connection: Connection;
  assessment: HealthAssessment;
  tenantId: string | null;
  groupName: string | null;
  /** failure times (epoch seconds) inside the error window, from the connector's memory */
  recentFailures: readonly number[];
}

const firstMessage = (items: {message?: string}[] | undefined): string | null => items?.find((item) => item.message)?.message ?? null;

export function dashboardUrl(connectionId: string): string {
  return `https://fivetran.com/dashboard/connections/${encodeURIComponent(connectionId)}`;
}

/**
 * The message of a `failing` alert, whoever saw the failure: a check reading the connection (its last success
 * known: a time, or null for never) or a sync_end webhook (`lastSuccess` undefined: the event does not say).
 */
function failingMessage(name: string, connectionId: string, failedAt: string | null, lastSuccess: string | null | undefined, reason: string | null): string {
  const success = lastSuccess === undefined ? '' : lastSuccess ? `; last success ${lastSuccess}` : '; it never succeeded';
  return `${name}: the last sync failed at ${failedAt}${success}${reason ? ` (${reason})` : ''}. Read the sync logs at ${dashboardUrl(connectionId)}.`;
}

/** What a sync_end webhook says of a connection (functions/fivetran-webhooks). */
export interface SyncEndEvent {
  connectionId: string;
  /** the destination schema (the webhook's connector_name) */
  schemaName: string;
  service: string;
  groupId: string;
  /** when the sync ended (the webhook's `created`) */
  at: string;
  reason: string | null;
}

/** The `failing` alert of a failed sync_end: the same rule, severity and message a check would raise. */
export function failedSyncAlert(event: SyncEndEvent): Alert {
  const name = `${event.schemaName} (${event.service}, ${event.connectionId})`;
  return {
    checked_at: event.at, connection_id: event.connectionId, rule: 'failing', severity: 'critical', tenant_id: null,
    group_id: event.groupId, group_name: null, schema_name: event.schemaName, service: event.service, since: event.at,
    message: failingMessage(name, event.connectionId, event.at, undefined, event.reason),
  };
}

/** The open problems of one connection, worst first. */
export function alertsFor(subject: AlertSubject, checkedAt: string, options: AlertOptions): Alert[] {
  const {connection, assessment, tenantId, groupName} = subject;
  const name = `${connection.schema} (${connection.service}, ${connection.id}${tenantId ? `, tenant ${tenantId}` : ''})`;
  const link = dashboardUrl(connection.id);
  const base = {
    checked_at: checkedAt,
    connection_id: connection.id,
    tenant_id: tenantId,
    group_id: connection.group_id,
    group_name: groupName,
    schema_name: connection.schema,
    service: connection.service,
  };
  const alerts: Alert[] = [];
  const task = firstMessage(connection.status?.tasks);
  const warning = firstMessage(connection.status?.warnings);
  switch (assessment.health) {
    case 'broken':
      alerts.push({
        ...base, rule: 'broken', severity: 'critical', since: connection.failed_at ?? null,
        message: `${name} is broken: ${task ?? 'its setup needs attention'}. Fix the setup in Fivetran (${link}), then run its setup tests.`,
      });
      break;
    case 'failing':
      alerts.push({
        ...base, rule: 'failing', severity: 'critical', since: connection.failed_at ?? null,
        message: failingMessage(name, connection.id, connection.failed_at ?? null, connection.succeeded_at ?? null, warning),
      });
      break;
    case 'delayed': {
      const late = assessment.minutesSinceSuccess !== null ? `no success for ${formatMinutes(assessment.minutesSinceSuccess)}` : 'no success yet';
      const allowance = connection.schedule_type !== 'manual' && connection.sync_frequency ? ` (expected every ${formatMinutes(connection.sync_frequency)}, allowed ${options.delayFactor}×)` : '';
      alerts.push({
        ...base, rule: 'delayed', severity: 'warning', since: connection.succeeded_at ?? null,
        message: `${name} is delayed: ${late}${allowance}${connection.status?.update_state === 'delayed' ? '; Fivetran reports it delayed' : ''}. Check the source and the sync history at ${link}.`,
      });
      break;
    }
    case 'paused':
      if (!options.expectedPaused.has(connection.id) && !options.expectedPaused.has(connection.schema)) {
        alerts.push({
          ...base, rule: 'paused', severity: 'warning', since: null,
          message: `${name} is paused and not listed in expected_paused. Unpause it at ${link}, or add it to expected_paused if the pause is intended.`,
        });
      }
      break;
    default:
      break;
  }
  if (subject.recentFailures.length >= options.frequentFailureCount && options.frequentFailureCount > 0) {
    const first = Math.min(...subject.recentFailures);
    alerts.push({
      ...base, rule: 'frequent_failures', severity: 'warning', since: new Date(first * 1000).toISOString(),
      message: `${name} failed ${subject.recentFailures.length} times in the last ${options.errorWindowHours}h. Look for an intermittent source problem at ${link}.`,
    });
  }
  return alerts;
}

/** Worst first: critical before warning, then by tenant and connection for a stable order. */
export function sortAlerts<T extends Pick<Alert, 'severity' | 'tenant_id' | 'connection_id' | 'rule'>>(alerts: T[]): T[] {
  return [...alerts].sort(
    (a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
      (a.tenant_id ?? '').localeCompare(b.tenant_id ?? '') ||
      a.connection_id.localeCompare(b.connection_id) ||
      a.rule.localeCompare(b.rule),
  );
}
