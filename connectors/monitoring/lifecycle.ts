// The life of an alert: opened once, kept while the problem lasts, closed when it clears. Alerts that repeat
// every run are what makes people mute them, so `monitor alerts` posts only what changed since the last run:
// new alerts, escalations (warning → critical), resolutions ("... recovered after 3h 10m"), and, when asked,
// a reminder for alerts still open after a while. The ledger of open alerts is a JSON file beside the local
// warehouse (.fivetran/monitor/alerts.json by default, cli/monitor/ledger-file.ts), written atomically after each run,
// or a PostgreSQL table shared with the fivetran-webhooks function (ledger-postgres.ts), which folds one
// connection's webhook events in at a time (reconcileConnection).
//
// One open alert per connection: its worst problem. A connection that goes from delayed (warning) to failing
// (critical) escalates the alert it has, rather than opening a second one.
import * as z from 'zod';
import {SEVERITY_RANK, type Alert} from './alerts.js';
import {formatDuration} from './health.js';

const OpenAlertSchema = z.object({
  connection_id: z.string(),
  rule: z.string(),
  severity: z.enum(['critical', 'warning']),
  tenant_id: z.string().nullable(),
  schema_name: z.string(),
  message: z.string(),
  opened_at: z.string(),
  last_seen_at: z.string(),
  /** when a reminder was last posted (or the alert opened) */
  reminded_at: z.string(),
});
const ResolvedAlertSchema = OpenAlertSchema.extend({resolved_at: z.string()});
export const LedgerSchema = z.object({
  version: z.literal(1),
  open: z.array(OpenAlertSchema),
  /** the most recent resolutions, newest first (kept for the dashboard and for people reading the file) */
  resolved: z.array(ResolvedAlertSchema),
  /**
   * The webhook deliveries already applied, newest first: `<event>:<sync_id>`, the connection and when the
   * event happened. Fivetran retries a delivery it got no 2xx for, and delivers in no guaranteed order: a
   * retried or late failure must not reopen an alert a later success resolved.
   */
  deliveries: z.array(z.object({key: z.string(), connection_id: z.string().optional(), at: z.string()})).optional(),
});

export type OpenAlert = z.infer<typeof OpenAlertSchema>;
export type ResolvedAlert = z.infer<typeof ResolvedAlertSchema>;
export type AlertLedger = z.infer<typeof LedgerSchema>;

/** Resolutions kept in the ledger file. */
const KEEP_RESOLVED = 200;
/** Webhook deliveries remembered: far more than Fivetran retries within its retry window. */
const KEEP_DELIVERIES = 1000;

/**
 * Where the ledger lives between runs and between deliveries. `update` reads it, lets `change` decide (and
 * notify the sinks), and keeps the ledger `change` returns (null: keep it as it was), all under the store's
 * lock: two deliveries of one failure, or a delivery during a `monitor alerts` run, see each other's ledger
 * and post once. Implementations: a JSON file (one process; ledger-store.ts) and a PostgreSQL table (any
 * number of function instances and CLI runs; ledger-postgres.ts).
 */
export interface LedgerStore {
  /** what the ledger is, for messages (a file path, or a database without its password) */
  readonly label: string;
  update<T>(change: (ledger: AlertLedger) => Promise<{ledger: AlertLedger | null; result: T}>): Promise<T>;
}

export function emptyLedger(): AlertLedger {
  return {version: 1, open: [], resolved: []};
}

export interface AlertChanges {
  opened: OpenAlert[];
  escalated: (OpenAlert & {from: 'warning'})[];
  resolved: (ResolvedAlert & {duration_ms: number})[];
  reminders: (OpenAlert & {open_for_ms: number})[];
}

export function changeCount(changes: AlertChanges): number {
  return changes.opened.length + changes.escalated.length + changes.resolved.length + changes.reminders.length;
}

/** Worst first, then oldest first. */
function bySeverityThenAge<T extends {severity: 'critical' | 'warning'; opened_at: string}>(a: T, b: T): number {
  return SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.opened_at.localeCompare(b.opened_at);
}

/**
 * Folds this run's alerts into the ledger: what opened, escalated, resolved or needs a reminder, and the
 * ledger to keep. `alerts` are every open problem now (several per connection are folded into the worst).
 */
export function reconcile(ledger: AlertLedger, alerts: readonly Alert[], now: Date, options: {remindAfterMs?: number} = {}): {changes: AlertChanges; ledger: AlertLedger} {
  const at = now.toISOString();
  const worst = new Map<string, Alert>();
  for (const alert of alerts) {
    const current = worst.get(alert.connection_id);
    if (!current || SEVERITY_RANK[alert.severity] < SEVERITY_RANK[current.severity]) worst.set(alert.connection_id, alert);
  }
  const before = new Map(ledger.open.map((alert) => [alert.connection_id, alert]));
  const changes: AlertChanges = {opened: [], escalated: [], resolved: [], reminders: []};
  const open: OpenAlert[] = [];
  for (const [connectionId, alert] of worst) {
    const previous = before.get(connectionId);
    const fields = {rule: alert.rule, severity: alert.severity, tenant_id: alert.tenant_id, schema_name: alert.schema_name, message: alert.message, last_seen_at: at};
    if (!previous) {
      const opened: OpenAlert = {connection_id: connectionId, ...fields, opened_at: alert.since && alert.since < at ? alert.since : at, reminded_at: at};
      changes.opened.push(opened);
      open.push(opened);
      continue;
    }
    const kept: OpenAlert = {...previous, ...fields};
    if (previous.severity === 'warning' && alert.severity === 'critical') {
      kept.reminded_at = at;
      changes.escalated.push({...kept, from: 'warning'});
    } else if (options.remindAfterMs !== undefined && now.getTime() - Date.parse(previous.reminded_at) >= options.remindAfterMs) {
      kept.reminded_at = at;
      changes.reminders.push({...kept, open_for_ms: now.getTime() - Date.parse(kept.opened_at)});
    }
    open.push(kept);
  }
  const resolvedNow: ResolvedAlert[] = [];
  for (const previous of ledger.open) {
    if (worst.has(previous.connection_id)) continue;
    const resolved: ResolvedAlert = {...previous, resolved_at: at};
    resolvedNow.push(resolved);
    changes.resolved.push({...resolved, duration_ms: now.getTime() - Date.parse(previous.opened_at)});
  }
  changes.opened.sort(bySeverityThenAge);
  changes.escalated.sort(bySeverityThenAge);
  changes.reminders.sort(bySeverityThenAge);
  changes.resolved.sort(bySeverityThenAge);
  return {changes, ledger: {version: 1, open: open.sort(bySeverityThenAge), resolved: [...resolvedNow, ...ledger.resolved].slice(0, KEEP_RESOLVED), ...(ledger.deliveries ? {deliveries: ledger.deliveries} : {})}};
}

/** Rules a successful sync disproves: a sync just ran and finished. Paused and frequent failures are the check's to clear. */
const CLEARED_BY_SUCCESS: ReadonlySet<string> = new Set(['failing', 'broken', 'delayed']);

/** A webhook event as the ledger remembers it: `sync_end:<sync_id>`, and when it happened (its `created`). */
export interface Delivery {
  key: string;
  at: string;
}

/**
 * One connection's turn of the lifecycle, for a webhook event: `alert` is its problem now (a failed sync), or
 * null after a successful sync, which resolves its open alert when the success disproves it. The other
 * connections' alerts are left as they are. With `delivery`, an event already applied (a redelivery) or older
 * than the last one applied for the connection (a late one) changes nothing: `ignored` says why.
 */
export function reconcileConnection(
  ledger: AlertLedger,
  connectionId: string,
  alert: Alert | null,
  now: Date,
  delivery?: Delivery,
): {changes: AlertChanges; ledger: AlertLedger; ignored?: 'duplicate' | 'stale'} {
  const none: AlertChanges = {opened: [], escalated: [], resolved: [], reminders: []};
  if (delivery && ledger.deliveries?.some((applied) => applied.key === delivery.key)) return {changes: none, ledger, ignored: 'duplicate'};
  if (delivery && ledger.deliveries?.some((applied) => applied.connection_id === connectionId && applied.at > delivery.at)) return {changes: none, ledger, ignored: 'stale'};
  const deliveries = delivery ? [{key: delivery.key, connection_id: connectionId, at: delivery.at}, ...(ledger.deliveries ?? [])].slice(0, KEEP_DELIVERIES) : ledger.deliveries;
  const previous = ledger.open.find((open) => open.connection_id === connectionId);
  const others = ledger.open.filter((open) => open.connection_id !== connectionId);
  let current: Alert[];
  if (alert) current = [previous?.tenant_id && !alert.tenant_id ? {...alert, tenant_id: previous.tenant_id} : alert];
  else if (previous && !CLEARED_BY_SUCCESS.has(previous.rule)) return {changes: none, ledger: {...ledger, ...(deliveries ? {deliveries} : {})}};
  else current = [];
  const mine = reconcile({version: 1, open: previous ? [previous] : [], resolved: ledger.resolved}, current, now);
  return {
    changes: mine.changes,
    ledger: {version: 1, open: [...others, ...mine.ledger.open].sort(bySeverityThenAge), resolved: mine.ledger.resolved, ...(deliveries ? {deliveries} : {})},
  };
}

/** One line per change, worst first: what a person reads in the terminal, an email or a webhook's log. */
export function changeLines(changes: AlertChanges): string[] {
  const name = (alert: OpenAlert) => `${alert.schema_name} (${alert.connection_id}${alert.tenant_id ? `, tenant ${alert.tenant_id}` : ''})`;
  return [
    ...changes.opened.map((alert) => `NEW       ${alert.severity.toUpperCase().padEnd(8)} ${alert.message}`),
    ...changes.escalated.map((alert) => `ESCALATED warning → critical: ${alert.message}`),
    ...changes.reminders.map((alert) => `STILL     ${alert.severity.toUpperCase().padEnd(8)} open for ${formatDuration(alert.open_for_ms)}: ${alert.message}`),
    ...changes.resolved.map((alert) => `RESOLVED  ${name(alert)} recovered after ${formatDuration(alert.duration_ms)} (was ${alert.rule.replace(/_/g, ' ')})`),
  ];
}
