// The tables the monitoring connector lands, and their row types, derived from the declared columns.
import type {RowOf, TableSpec} from '../../sdk/index.js';
import type {Health} from './health.js';

export const TABLES = {
  groups: {
    primaryKey: ['group_id'],
    columns: {group_id: 'string', group_name: 'string', created_at: 'utc_datetime', tenant_id: 'string', checked_at: 'utc_datetime'},
    description: 'Fivetran groups (destinations) as of the last check',
  },
  connections: {
    primaryKey: ['checked_at', 'connection_id'],
    columns: {
      checked_at: 'utc_datetime', connection_id: 'string', group_id: 'string', group_name: 'string', schema_name: 'string', service: 'string',
      tenant_id: 'string', setup_state: 'string', sync_state: 'string', update_state: 'string', paused: 'boolean', schedule_type: 'string',
      sync_frequency: 'int', succeeded_at: 'utc_datetime', failed_at: 'utc_datetime', is_historical_sync: 'boolean', rescheduled_for: 'utc_datetime',
      health: 'string', minutes_since_success: 'long', delay_minutes: 'long', task_message: 'string', warning_message: 'string',
    },
    notNull: ['group_id', 'schema_name', 'service', 'paused', 'health'],
    description: 'one row per connection per check, with its derived health',
  },
  connection_events: {
    primaryKey: ['connection_id', 'event_at', 'event_type'],
    columns: {
      connection_id: 'string', event_at: 'utc_datetime', event_type: 'string', checked_at: 'utc_datetime', group_id: 'string', tenant_id: 'string',
      schema_name: 'string', previous_health: 'string', health: 'string', duration_seconds: 'long',
    },
    notNull: ['checked_at'],
    description: 'what changed since the previous check: failure, success (with duration), recovery, paused, unpaused, removed',
  },
  alerts: {
    primaryKey: ['checked_at', 'connection_id', 'rule'],
    columns: {
      checked_at: 'utc_datetime', connection_id: 'string', rule: 'string', severity: 'string', tenant_id: 'string', group_id: 'string',
      group_name: 'string', schema_name: 'string', service: 'string', since: 'utc_datetime', message: 'string',
    },
    description: 'one row per open problem per check: critical (broken, failing) or warning (delayed, frequent_failures, paused)',
  },
  alert_history: {
    primaryKey: ['connection_id', 'opened_at'],
    columns: {
      connection_id: 'string', opened_at: 'utc_datetime', rule: 'string', severity: 'string', tenant_id: 'string', schema_name: 'string',
      message: 'string', last_seen_at: 'utc_datetime', resolved_at: 'utc_datetime', escalated_at: 'utc_datetime',
    },
    notNull: ['rule', 'severity', 'message', 'last_seen_at'],
    description: 'the life of each alert (one open per connection, its worst problem): opened_at, last_seen_at (moves every check), escalated_at, resolved_at (null while open)',
  },
} as const satisfies Record<string, TableSpec>;

/** A row of `connections`: its columns as declared, with the health narrowed to the values health.ts derives. */
export type ConnectionRow = Omit<RowOf<typeof TABLES.connections>, 'health'> & {health: Health};

/** A row of `connection_events`, as declared. */
export type EventRow = RowOf<typeof TABLES.connection_events>;

/** A row of `alert_history`, as declared. */
export type AlertHistoryRow = RowOf<typeof TABLES.alert_history>;
