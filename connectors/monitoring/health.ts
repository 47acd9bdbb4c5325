// The health of one Fivetran connection, derived from what the REST API reports (docs/fivetran.md §2). Pure
// functions: the connector, `./fivetran monitor` and the tests share them.
//
// Rules, first match wins:
//   paused      `paused` is true (whatever else is wrong: nobody expects it to sync)
//   incomplete  setup_state is `incomplete` (the setup form was never finished)
//   broken      setup_state is `broken` (a person must fix credentials or permissions)
//   failing     the last completion is a failure: failed_at is later than succeeded_at (or it never succeeded)
//   delayed     update_state is `delayed`, or, on an `auto` schedule, the last success (or the creation, when
//               it never succeeded) is older than delay_factor × sync_frequency
//   syncing     sync_state is `syncing`
//   healthy     none of the above
// A `manual` schedule has no expected cadence (Airflow or a person triggers it), so only the API's own
// update_state can make it delayed.
import type {Connection} from '../../sdk/fivetran-api.js';

export const HEALTHS = ['broken', 'failing', 'delayed', 'incomplete', 'paused', 'syncing', 'healthy'] as const;
export type Health = (typeof HEALTHS)[number];

/** Worst first: the order of `monitor status` and of the dashboard. */
export const HEALTH_RANK: Readonly<Record<Health, number>> = Object.fromEntries(HEALTHS.map((health, i) => [health, i])) as Record<Health, number>;

export interface HealthOptions {
  /** a connection is late when its last success is older than delayFactor × sync_frequency (default 2) */
  delayFactor?: number;
}

export interface HealthAssessment {
  health: Health;
  /** minutes since the last success (or since creation when it never succeeded); null when unknown */
  minutesSinceSuccess: number | null;
  /** minutes beyond delayFactor × sync_frequency; 0 when on time; null on a manual schedule or unknown */
  delayMinutes: number | null;
}

/** Milliseconds since the epoch of an API timestamp; null for null, absent or unparseable values. */
export function timestampMs(value: unknown): number | null {
  if (typeof value !== 'string' || value === '') return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** True when the last completion is a failure: failed_at later than succeeded_at, or a failure and no success. */
export function lastCompletionFailed(connection: Pick<Connection, 'succeeded_at' | 'failed_at'>): boolean {
  const failed = timestampMs(connection.failed_at);
  if (failed === null) return false;
  const succeeded = timestampMs(connection.succeeded_at);
  return succeeded === null || failed > succeeded;
}

export function assessHealth(connection: Connection, now: number, options: HealthOptions = {}): HealthAssessment {
  const delayFactor = options.delayFactor ?? 2;
  const status = connection.status ?? {};
  const succeeded = timestampMs(connection.succeeded_at);
  const since = succeeded ?? timestampMs(connection.created_at);
  const minutesSinceSuccess = since === null ? null : Math.max(0, Math.floor((now - since) / 60_000));
  const frequency = typeof connection.sync_frequency === 'number' && connection.sync_frequency > 0 ? connection.sync_frequency : null;
  const scheduled = connection.schedule_type !== 'manual' && frequency !== null;
  const delayMinutes = scheduled && minutesSinceSuccess !== null ? Math.max(0, Math.floor(minutesSinceSuccess - delayFactor * frequency!)) : null;
  // Late means strictly older than the allowance; exactly delayFactor × frequency is still on time.
  const late = scheduled && since !== null && now - since > delayFactor * frequency! * 60_000;

  let health: Health;
  if (connection.paused === true) health = 'paused';
  else if (status.setup_state === 'incomplete') health = 'incomplete';
  else if (status.setup_state === 'broken') health = 'broken';
  else if (lastCompletionFailed(connection)) health = 'failing';
  else if (status.update_state === 'delayed' || late) health = 'delayed';
  else if (status.sync_state === 'syncing') health = 'syncing';
  else health = 'healthy';
  return {health, minutesSinceSuccess, delayMinutes};
}

/** `2h 5m`, `3d 4h`, `45m`: a delay a person reads at a glance. */
export function formatMinutes(minutes: number | null): string {
  if (minutes === null) return '';
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)}h${minutes % 60 ? ` ${minutes % 60}m` : ''}`;
  const days = Math.floor(minutes / (24 * 60));
  const hours = Math.floor((minutes % (24 * 60)) / 60);
  return `${days}d${hours ? ` ${hours}h` : ''}`;
}

/** A duration a person reads: 250ms, 42s, 5m 3s, 3h 10m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${seconds % 60 ? ` ${seconds % 60}s` : ''}`;
  return `${Math.floor(minutes / 60)}h${minutes % 60 ? ` ${minutes % 60}m` : ''}`;
}
