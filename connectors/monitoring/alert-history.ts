// The alert lifecycle the connector keeps itself, in its state and in `alert_history`: the rule of
// `monitor alerts` (lifecycle.ts's reconcile: one open alert per connection, its worst problem, opened once,
// escalated from warning to critical, resolved when it clears), so the warehouse shows when each alert
// opened, when a check last saw it and when it resolved ("recovered after 3h 10m" is resolved_at − opened_at).
//
// A check spans several calls, and a call stops at its last checkpoint (rows after it are sent again by the
// next call). So each connection's alerts are folded into its open alert as the check reads it, in the same
// state the checkpoint carries with the read position: a resumed call continues from a state that has folded
// exactly the connections before its position. Open alerts of connections the check did not see (removed, or
// out of the chosen groups) resolve where the check finishes. Folding the whole check at its end instead would
// need every alert of the check (with its message) carried in the state across calls, or every alert_history
// row sent by the last call, past any checkpoint.
//
// An open alert's row carries the message of the check that saw it last; a resolved one says how it ended, as
// `monitor alerts` posts it ("gcf_finance_7 (brisk_otter, tenant finance) recovered after 3h 10m (was
// failing)"). The problem's last message stays in `alerts` (checked_at = the row's last_seen_at).
import type {Alert} from './alerts.js';
import {formatDuration} from './health.js';
import {reconcile, type AlertLedger} from './lifecycle.js';
import type {OpenAlertState} from './state.js';
import type {AlertHistoryRow} from './tables.js';

/** Per connection id, its open alert (the state's `open_alerts`). */
export type OpenAlerts = Record<string, OpenAlertState>;

function ledgerOf(connectionId: string, entry: OpenAlertState | undefined): AlertLedger {
  if (!entry) return {version: 1, open: [], resolved: []};
  // the connector sends no reminders: reminded_at only satisfies the ledger's shape, as does the message
  // (reconcile takes the message of this check's alert, and a resolved row writes its own)
  return {version: 1, open: [{connection_id: connectionId, ...entry, message: '', reminded_at: entry.last_seen_at}], resolved: []};
}

/** The line `monitor alerts` posts for a resolution (lifecycle.ts's changeLines), without its RESOLVED tag. */
function recoveredMessage(connectionId: string, entry: OpenAlertState, resolvedAt: string): string {
  const name = `${entry.schema_name} (${connectionId}${entry.tenant_id ? `, tenant ${entry.tenant_id}` : ''})`;
  return `${name} recovered after ${formatDuration(Date.parse(resolvedAt) - Date.parse(entry.opened_at))} (was ${entry.rule.replace(/_/g, ' ')})`;
}

function historyRow(connectionId: string, entry: OpenAlertState, message: string, resolvedAt: string | null): AlertHistoryRow {
  return {
    connection_id: connectionId,
    opened_at: entry.opened_at,
    rule: entry.rule,
    severity: entry.severity,
    tenant_id: entry.tenant_id,
    schema_name: entry.schema_name,
    message,
    last_seen_at: entry.last_seen_at,
    resolved_at: resolvedAt,
    escalated_at: entry.escalated_at ?? null,
  };
}

/**
 * Folds one connection's alerts at this check (`[]` when it has none) into its open alert in `open`, and
 * returns the alert_history row to write: the open alert (its last_seen_at now), or the one that resolved.
 */
export function foldConnectionAlerts(open: OpenAlerts, connectionId: string, alerts: readonly Alert[], checkedAt: string): AlertHistoryRow[] {
  const previous = open[connectionId];
  if (!previous && alerts.length === 0) return [];
  const {changes, ledger} = reconcile(ledgerOf(connectionId, previous), alerts, new Date(checkedAt));
  const kept = ledger.open[0];
  if (!kept) {
    delete open[connectionId];
    return changes.resolved.map((resolved) => historyRow(connectionId, previous!, recoveredMessage(connectionId, previous!, resolved.resolved_at), resolved.resolved_at));
  }
  const escalatedAt = changes.escalated.length > 0 ? checkedAt : previous?.escalated_at;
  const entry: OpenAlertState = {
    rule: kept.rule as OpenAlertState['rule'],
    severity: kept.severity,
    tenant_id: kept.tenant_id,
    schema_name: kept.schema_name,
    opened_at: kept.opened_at,
    last_seen_at: kept.last_seen_at,
    ...(escalatedAt ? {escalated_at: escalatedAt} : {}),
  };
  open[connectionId] = entry;
  return [historyRow(connectionId, entry, kept.message, null)];
}

/** Where a check finishes: the open alerts of connections it did not see resolve; their alert_history rows. */
export function resolveUnseen(open: OpenAlerts, seen: (connectionId: string) => boolean, checkedAt: string): AlertHistoryRow[] {
  return Object.keys(open).filter((id) => !seen(id)).flatMap((id) => foldConnectionAlerts(open, id, [], checkedAt));
}
