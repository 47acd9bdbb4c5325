// ./fivetran monitor metadata: is Fivetran's own metadata current? Finds the Platform Connector connection(s)
// (service `fivetran_log`, formerly "Fivetran Log": it syncs the account's logs into `fivetran_metadata`,
// docs/fivetran.md §4) and reports each one's sync state, last success and lag; exits 1 when there is none,
// when one is broken or failing, or when its lag is over --max-lag. The monitoring views and the dashboard read
// those tables, so a stale Platform Connector makes every other figure stale too.
import {collectCheck, type ConnectionRow} from '../../connectors/monitoring/check.js';
import {formatMinutes} from '../../connectors/monitoring/health.js';
import {CommandFailed} from '../errors.js';
import {formatTable} from '../output.js';
import {apiFromEnv, parseDuration, settingsFromOptions, type MonitorCommonOptions} from './common.js';

/** The Platform Connector's service id in the REST API. */
export const PLATFORM_CONNECTOR_SERVICE = 'fivetran_log';

export interface MonitorMetadataOptions extends MonitorCommonOptions {
  /** the longest acceptable time since the last successful sync, e.g. 2h (default 24h) */
  maxLag?: string;
  json?: boolean;
  now?: () => number;
}

export interface MetadataConnection {
  connection_id: string;
  schema_name: string;
  group_name: string | null;
  health: ConnectionRow['health'];
  sync_state: string | null;
  succeeded_at: string | null;
  lag_minutes: number | null;
  /** why this one fails the check, or null */
  problem: string | null;
}

export interface MetadataResult {
  checked_at: string;
  max_lag_minutes: number;
  connections: MetadataConnection[];
  ok: boolean;
}

export async function monitorMetadata(options: MonitorMetadataOptions = {}): Promise<MetadataResult> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const env = options.env ?? process.env;
  const maxLagMs = parseDuration(options.maxLag ?? '24h', '--max-lag');
  const now = options.now ?? Date.now;
  const check = await collectCheck(apiFromEnv(env, options.retries), settingsFromOptions({...options, env}), {}, now);
  const maxLagMinutes = Math.round(maxLagMs / 60_000);
  const connections = check.connections
    .filter((row) => row.service === PLATFORM_CONNECTOR_SERVICE)
    .map((row): MetadataConnection => {
      const lag = row.succeeded_at ? Math.max(0, Math.round((now() - Date.parse(row.succeeded_at)) / 60_000)) : null;
      const problem =
        row.health === 'broken' || row.health === 'failing'
          ? `it is ${row.health}${row.task_message ? `: ${row.task_message}` : ''}`
          : row.paused
            ? 'it is paused: fivetran_metadata is not updated'
            : lag === null
              ? 'it has never synced'
              : lag > maxLagMinutes
                ? `its last success was ${formatMinutes(lag)} ago, over --max-lag ${formatMinutes(maxLagMinutes)}`
                : null;
      return {connection_id: row.connection_id, schema_name: row.schema_name, group_name: row.group_name, health: row.health, sync_state: row.sync_state, succeeded_at: row.succeeded_at, lag_minutes: lag, problem};
    });
  const result: MetadataResult = {checked_at: check.checkedAt, max_lag_minutes: maxLagMinutes, connections, ok: connections.length > 0 && connections.every((c) => c.problem === null)};
  if (options.json) write(`${JSON.stringify(result, null, 2)}\n`);
  else if (connections.length) {
    const rows = connections.map((c) => ({
      connection: c.connection_id, schema: c.schema_name, destination: c.group_name ?? '', health: c.health, 'sync state': c.sync_state ?? '',
      'last success': c.succeeded_at ?? 'never', lag: c.lag_minutes === null ? '' : formatMinutes(c.lag_minutes), problem: c.problem ?? 'ok',
    }));
    write(`${formatTable(rows)}\n`);
  }
  if (connections.length === 0) {
    throw new CommandFailed(
      `no Platform Connector connection (service ${PLATFORM_CONNECTOR_SERVICE}) among ${check.connections.length} connections; add one in Fivetran (Connections → Add → Fivetran Platform) so fivetran_metadata is synced`,
    );
  }
  const failing = connections.filter((c) => c.problem !== null);
  if (failing.length) {
    throw new CommandFailed(failing.map((c) => `Platform Connector ${c.connection_id} (${c.schema_name}): ${c.problem}`).join('; '));
  }
  return result;
}
