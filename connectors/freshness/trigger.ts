// The decision of one freshness check and the Fivetran API calls it leads to: below the threshold, within
// the cooldown, already syncing or a dry run, nothing is sent; otherwise the connection is unpaused if
// paused and a sync is triggered. Each decision and each call becomes one sync_events row. The trigger is sent
// once: when its answer is lost (no answer in time, a 5xx, a body of the wrong shape) the row says so
// (outcome `unknown`), and only a trigger the API confirmed starts the cooldown.
import {ConfigError, type Logger} from '../../sdk/index.js';
import {FivetranApiError, type ApiResult, type Connection, type FivetranApi} from '../../sdk/fivetran-api.js';
import type {FreshnessAnalysis} from './analyze.js';

export type SyncAction = 'unpause' | 'trigger_sync' | 'skip_cooldown' | 'skip_already_syncing' | 'skip_below_threshold' | 'dry_run';
/**
 * succeeded: the API accepted the call; skipped: nothing was sent; conflict: the API answered 409; unknown: the
 * request was sent but its answer was lost or unusable, so the sync may or may not have started
 */
export type SyncOutcome = 'succeeded' | 'skipped' | 'conflict' | 'unknown';

/** A row of sync_events. */
export interface SyncEvent {
  event_timestamp: string;
  connector_id: string;
  check_timestamp: string;
  action: SyncAction;
  outcome: SyncOutcome;
  /** status of the API call the event is about, null when none was made */
  http_status: number | null;
  /** attempts of that call, retries included; 0 when none was made */
  attempts: number;
  message: string;
}

export interface TriggerRequest {
  api: FivetranApi;
  /** the call's deadline: a trigger whose answer it cut off fails the call rather than being recorded */
  signal?: AbortSignal;
  connectionId: string;
  checkTimestamp: string;
  analysis: FreshnessAnalysis;
  thresholdPercent: number;
  cooldownMinutes: number;
  /** ISO time of the last trigger (from state), null if none */
  lastTriggerTime: string | null;
  force: boolean;
  dryRun: boolean;
  log: Logger;
  now?: () => Date;
}

export interface TriggerResult {
  /** the decision of the check: the action of its last event */
  decision: SyncAction;
  /** ISO time of the trigger when this check triggered a sync; null otherwise */
  triggeredAt: string | null;
  events: SyncEvent[];
}

/**
 * Strictly above the threshold, compared on counts rather than on the rounded percentage. A fractional
 * threshold times the row count carries float error (0.57 × 10000 = 5699.999…), which the tolerance absorbs
 * so that a share exactly at the threshold never triggers.
 */
export function syncNeeded(analysis: FreshnessAnalysis, thresholdPercent: number): boolean {
  const stale = analysis.staleRows * 100;
  const threshold = thresholdPercent * analysis.totalRows;
  return stale - threshold > threshold * Number.EPSILON * 4;
}

export function formatPercent(value: number): string {
  return `${value.toFixed(2)}%`;
}

/** Collects the events of one check. Timestamps strictly increase: they are half of the primary key. */
class CheckEvents {
  readonly events: SyncEvent[] = [];
  private lastMs = 0;
  constructor(private readonly request: TriggerRequest, private readonly now: () => Date) {}

  add(action: SyncAction, outcome: SyncOutcome, message: string, call?: {status: number | null; attempts: number}): SyncEvent {
    this.lastMs = Math.max(this.now().getTime(), this.lastMs + 1);
    const event: SyncEvent = {
      event_timestamp: new Date(this.lastMs).toISOString(),
      connector_id: this.request.connectionId,
      check_timestamp: this.request.checkTimestamp,
      action,
      outcome,
      http_status: call?.status ?? null,
      attempts: call?.attempts ?? 0,
      message,
    };
    this.events.push(event);
    this.request.log.info(`${action}: ${message}`, {action, outcome, http_status: event.http_status, attempts: event.attempts, connector_id: event.connector_id});
    return event;
  }
}

/** 404 from the API means the configured connection id is wrong; say so by its key name. */
async function call<T>(connectionId: string, fn: () => Promise<ApiResult<T>>): Promise<ApiResult<T>> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof FivetranApiError && error.httpStatus === 404) {
      throw new ConfigError(`Fivetran has no connection "${connectionId}" that this API key can see (404); check fivetran_connector_id`, {cause: error});
    }
    throw error;
  }
}

/** The connection's details; also the setup test's proof that the id and the credentials are right. */
export function findConnection(api: FivetranApi, connectionId: string): Promise<ApiResult<Connection>> {
  return call(connectionId, () => api.getConnection(connectionId));
}

/**
 * Decides and acts for one check. Throws on API failures (401/403/404 at once; 429/5xx/network after the
 * client's retries) so that the call fails and nothing of the check is recorded half-way.
 */
export async function triggerSync(request: TriggerRequest): Promise<TriggerResult> {
  const now = request.now ?? (() => new Date());
  const {api, connectionId, analysis, thresholdPercent} = request;
  const check = new CheckEvents(request, now);
  const done = (triggeredAt: string | null = null): TriggerResult => ({decision: check.events.at(-1)!.action, triggeredAt, events: check.events});
  const share = `${formatPercent(analysis.stalePercentage)} stale`;

  if (!syncNeeded(analysis, thresholdPercent)) {
    check.add('skip_below_threshold', 'skipped', `${share} is not above the ${thresholdPercent}% threshold (${analysis.staleRows} of ${analysis.totalRows} rows)`);
    return done();
  }
  const reason = `${share} > ${thresholdPercent}% threshold`;

  if (request.lastTriggerTime) {
    const sinceMs = now().getTime() - Date.parse(request.lastTriggerTime);
    if (sinceMs < request.cooldownMinutes * 60_000) {
      const minutes = Math.max(0, Math.floor(sinceMs / 60_000));
      check.add('skip_cooldown', 'skipped', `last trigger ${minutes} min ago is within the ${request.cooldownMinutes} min cooldown (${reason})`);
      return done();
    }
  }

  const connection = await findConnection(api, connectionId);
  const syncing = connection.data.status?.sync_state === 'syncing';
  // force restarts a running sync, which is what a user who sets force_sync asks for
  if (syncing && !request.force) {
    check.add('skip_already_syncing', 'skipped', `connection ${connectionId} is already syncing (${reason})`, connection);
    return done();
  }
  const paused = connection.data.paused === true;

  if (request.dryRun) {
    const would = `${paused ? 'unpause and ' : ''}trigger a sync of connection ${connectionId} (force: ${request.force})`;
    check.add('dry_run', 'skipped', `${reason}: would ${would}, but dry_run is on`, connection);
    return done();
  }

  if (paused) {
    const unpaused = await call(connectionId, () => api.updateConnection(connectionId, {paused: false}));
    check.add('unpause', 'succeeded', `unpaused connection ${connectionId} before triggering its sync`, unpaused);
  }

  try {
    const triggered = await call(connectionId, () => api.triggerSync(connectionId, request.force));
    const event = check.add('trigger_sync', 'succeeded', `${reason} → sync triggered (connection ${connectionId})`, triggered);
    return done(event.event_timestamp);
  } catch (error) {
    if (error instanceof FivetranApiError && error.httpStatus === 409) {
      check.add('skip_already_syncing', 'conflict', `the API answered 409: connection ${connectionId} is already syncing (${reason})`, {status: 409, attempts: error.attempts});
      return done();
    }
    // Sent, but what happened is not known: record that, and do not send it again (a second force trigger
    // would restart the sync the first one may have started). No cooldown: nothing confirmed a trigger.
    if (error instanceof FivetranApiError && error.outcomeUnknown && !request.signal?.aborted) {
      check.add('trigger_sync', 'unknown', `${reason} → sync requested once, outcome unknown: ${error.message} (connection ${connectionId})`, {
        status: error.httpStatus || null,
        attempts: error.attempts,
      });
      return done();
    }
    throw error;
  }
}
