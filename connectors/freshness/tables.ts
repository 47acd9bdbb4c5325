// The tables the freshness connector lands. sync_events is known ahead; data_freshness_monitor is keyed by
// the configured id column, so each sync declares it.
import type {TableSpec} from '../../sdk/index.js';

export const MONITOR_TABLE = 'data_freshness_monitor';
export const EVENTS_TABLE = 'sync_events';

export const EVENTS_TABLE_SPEC: TableSpec = {
  primaryKey: ['event_timestamp', 'connector_id'],
  columns: {
    event_timestamp: 'utc_datetime', connector_id: 'string', check_timestamp: 'utc_datetime', action: 'string',
    outcome: 'string', http_status: 'int', attempts: 'int', message: 'string',
  },
  description: 'one row per decision and per Fivetran API call of every check',
};

/** Every row of the query at each check; keyed by the check and the configured id column. */
export function monitorTableSpec(idColumn: string): TableSpec {
  return {
    primaryKey: ['check_timestamp', idColumn],
    columns: {check_timestamp: 'utc_datetime', stale_percentage: 'double', threshold_percent: 'double', sync_triggered: 'boolean'},
    description: 'every row of freshness_query at each check, with the check\'s stale share and decision',
  };
}
