// The monitoring connector's state: the last finished check, and the check in progress (its time, number
// and where its next page starts) with, per connection, what the previous check saw (events.ts) and its open
// alert (alert-history.ts). `{}` (the first sync) is the empty state; the SDK refuses a state that does not
// parse, naming the field.
import * as z from 'zod';
import {ALERT_RULES} from './alerts.js';

/**
 * A connection's open alert, its worst problem (lifecycle.ts's rule): what alert_history's row needs to be
 * written whole again when it resolves. Only open alerts are kept, so the state grows with the problems of the
 * account, not with its history; the message is left out (a few hundred bytes each: the state would double), as
 * a check that sees the problem has it, and a resolved row says how it recovered instead.
 */
export const OpenAlertState = z.object({
  rule: z.enum(ALERT_RULES),
  severity: z.enum(['critical', 'warning']),
  tenant_id: z.string().nullable(),
  schema_name: z.string(),
  opened_at: z.string(),
  last_seen_at: z.string(),
  /** when it went from warning to critical */
  escalated_at: z.string().optional(),
});
export type OpenAlertState = z.infer<typeof OpenAlertState>;

export const MonitoringState = z.object({
  /** the time of the last finished check */
  last_checked_at: z.string().optional(),
  /** how many checks have finished */
  checks: z.number().int().nonnegative().optional(),
  /** the check in progress: its time, its number and where its next page starts */
  check: z.object({
    checked_at: z.string(),
    number: z.number().int().positive(),
    position: z.object({cursor: z.string().optional(), group_index: z.number().int().nonnegative().optional(), skip: z.number().int().nonnegative().optional()}),
  }).optional(),
  /** per connection, what the previous check saw (events.ts's compact entry) */
  connections: z.record(z.string(), z.array(z.number())).optional(),
  /** per connection id, its open alert; a check in progress has folded in the connections it has read */
  open_alerts: z.record(z.string(), OpenAlertState).optional(),
  /** per watched replication slot (slots.ts), its lag in bytes at the last checks, oldest first */
  slots: z.record(z.string(), z.array(z.number())).optional(),
});
export type MonitoringState = z.infer<typeof MonitoringState>;
