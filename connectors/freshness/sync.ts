// One freshness check, which may span several Function calls. The first call of a check analyses the query,
// decides and triggers (trigger.ts), and checkpoints that together with the check's sync_events rows before
// any row is read: the trigger is committed with the first response, so a later failure cannot make Fivetran
// repeat the call and trigger twice, and every row of the check carries the same sync_triggered. Then the
// rows are paged by keyset into data_freshness_monitor, each call resuming from the checkpointed id.
import {checkpoint, ConfigError, declareTable, errorMessage, SourceError, upsert, type BudgetView, type Emit, type Row, type SyncContext} from '../../sdk/index.js';
import {connect} from '../../sdk/postgres.js';
import {analyzeFreshness, keysetPage, type FreshnessQuery} from './analyze.js';
import {fivetranApi, postgresConfig, QUERY_TIMEOUT_MS, type ApiTuning} from './client.js';
import type {FreshnessSecrets} from './secrets.js';
import type {FreshnessState} from './state.js';
import {EVENTS_TABLE, MONITOR_TABLE, monitorTableSpec} from './tables.js';
import {triggerSync, type SyncEvent} from './trigger.js';

/** Rows per page query: enough to amortise running the query, few enough to hold in memory at once. */
export const PAGE_ROWS = 1000;

/** Time kept after the last API request of a check to record it and checkpoint before the call's deadline. */
const ANSWER_MARGIN_MS = 250;

export interface FreshnessOptions {
  /** Fivetran API retry tuning (tests shorten the backoff) */
  api?: ApiTuning;
}

export async function* freshnessSync(ctx: SyncContext<FreshnessSecrets, FreshnessState>, options: FreshnessOptions = {}): AsyncGenerator<Emit<FreshnessState>> {
  const {secrets, budget} = ctx;
  let state = ctx.state;
  // The adapter may stop at a check's last checkpoint and answer hasMore; Fivetran's next call of the same
  // sync then ends the sync here instead of running a second check.
  if (!state.paging && ctx.syncId !== undefined && state.last_sync_id === ctx.syncId) return;
  yield declareTable(MONITOR_TABLE, monitorTableSpec(secrets.id_column));

  // connecting and every statement end by the call's deadline
  const config = {...postgresConfig(secrets), connectTimeoutMs: Math.max(1000, Math.min(15_000, budget.timeLeftMs()))};
  const client = await connect(config);
  try {
    const query: FreshnessQuery = {
      client,
      sql: secrets.freshness_query,
      idColumn: secrets.id_column,
      timeoutMs: QUERY_TIMEOUT_MS,
      timeLeftMs: () => budget.timeLeftMs(),
      source: config,
    };
    let triggeredInThisCall = false;
    if (!state.paging) {
      const started = await startCheck(ctx, query, state, options);
      for (const event of started.events) yield upsert(EVENTS_TABLE, {...event});
      state = started.state;
      yield checkpoint(state);
      triggeredInThisCall = started.state.last_analysis!.sync_triggered;
    }
    yield* monitorRows(query, state, budget, triggeredInThisCall);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Analyses the query and decides; returns the check's events and the state that starts paging its rows. */
async function startCheck(
  {secrets, log, syncId, budget, signal}: SyncContext<FreshnessSecrets, FreshnessState>,
  query: FreshnessQuery,
  previous: FreshnessState,
  options: FreshnessOptions,
): Promise<{events: SyncEvent[]; state: FreshnessState}> {
  const checkTimestamp = new Date().toISOString();
  const analysis = await analyzeFreshness(query);
  log.info(`checked freshness: ${analysis.staleRows} of ${analysis.totalRows} rows stale (${analysis.stalePercentage}%)`, {check_timestamp: checkTimestamp});
  // A Retry-After or a request that would outlast the function's deadline fails the call cleanly instead
  // of letting the platform kill it mid-way; each attempt waits at most half the time left, so a trigger
  // whose answer is lost is still recorded and checkpointed before the deadline.
  const timeLeftMs = budget.timeLeftMs();
  const api = fivetranApi(
    secrets,
    {timeoutMs: Math.max(1000, Math.min(30_000, timeLeftMs / 2)), maxRetryAfterMs: timeLeftMs / 2, ...options.api},
    {signal, timeLeftMs: () => budget.timeLeftMs() - ANSWER_MARGIN_MS},
  );
  const result = await triggerSync({
    api,
    signal,
    connectionId: secrets.fivetran_connector_id,
    checkTimestamp,
    analysis,
    thresholdPercent: secrets.stale_threshold_percent,
    cooldownMinutes: secrets.cooldown_minutes,
    lastTriggerTime: previous.last_trigger_time,
    force: secrets.force_sync,
    dryRun: secrets.dry_run,
    log,
  });
  return {
    events: result.events,
    state: {
      last_check_time: checkTimestamp,
      last_trigger_time: result.triggeredAt ?? previous.last_trigger_time,
      last_analysis: {
        check_timestamp: checkTimestamp,
        total_rows: analysis.totalRows,
        stale_rows: analysis.staleRows,
        stale_percentage: analysis.stalePercentage,
        threshold_percent: secrets.stale_threshold_percent,
        decision: result.decision,
        sync_triggered: result.triggeredAt !== null,
      },
      last_sync_id: syncId ?? null,
      paging: {check_timestamp: checkTimestamp, after: null, rows_emitted: 0},
    },
  };
}

/** The check's rows from its paging position on, checkpointed often enough that a call stops within its budget. */
async function* monitorRows(query: FreshnessQuery, state: FreshnessState, budget: BudgetView, triggeredInThisCall: boolean): AsyncGenerator<Emit<FreshnessState>> {
  const analysis = state.last_analysis!;
  let {after, rows_emitted: emitted} = state.paging!;
  const at = (position: typeof after, rows: number) =>
    checkpoint<FreshnessState>({...state, paging: {check_timestamp: analysis.check_timestamp, after: position, rows_emitted: rows}});
  for (;;) {
    let rows: Row[];
    try {
      rows = await keysetPage(query, after, PAGE_ROWS);
    } catch (error) {
      // This call's checkpoint holds the trigger. A retriable error makes the adapter answer that checkpoint
      // (with hasMore) rather than fail the call, after which Fivetran would repeat the check and the trigger.
      if (triggeredInThisCall) {
        throw new SourceError(`reading the rows of freshness_query failed after the sync was triggered; the next call resumes them: ${errorMessage(error)}`, {cause: error, retriable: true});
      }
      throw error;
    }
    for (const row of rows) {
      yield upsert(MONITOR_TABLE, {
        ...row,
        check_timestamp: analysis.check_timestamp,
        stale_percentage: analysis.stale_percentage,
        threshold_percent: analysis.threshold_percent,
        sync_triggered: analysis.sync_triggered,
      });
      after = pagingKey(row[query.idColumn], query.idColumn);
      emitted++;
      // before the rows outgrow what the call can answer (the adapter stops at a checkpoint near the cap)
      if (!budget.roomFor()) yield at(after, emitted);
    }
    if (rows.length < PAGE_ROWS) break;
    yield at(after, emitted);
  }
  yield checkpoint({...state, paging: null});
}

/** Ids go into the state as JSON: numbers stay numbers; bigint, numeric, text, uuid and dates arrive as text. */
function pagingKey(value: unknown, idColumn: string): string | number {
  if (typeof value === 'number' || typeof value === 'string') return value;
  throw new ConfigError(`${idColumn} values of this type cannot be a paging key; return ${idColumn} as an integer, text, uuid or date (cast it in freshness_query)`);
}
