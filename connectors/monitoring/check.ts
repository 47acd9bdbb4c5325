// One check of the account: read every connection (read-account.ts), derive its health (health.ts) and
// tenant (tenants.ts), diff it against the previous check (events.ts), raise alerts (alerts.ts), fold them
// into the open alerts (alert-history.ts), and emit the rows. A check may span several Function calls: it
// checkpoints after every page with the check's time and the position of the next page, so a resumed call
// continues the same check (same checked_at) where the last one stopped. The connector, `./fivetran monitor` and the tests all run checks through here.
import type {Connection, FivetranApi} from '../../sdk/fivetran-api.js';
import {checkpoint, upsert, type BudgetView, type Emit} from '../../sdk/index.js';
import {foldConnectionAlerts, resolveUnseen, type OpenAlerts} from './alert-history.js';
import {alertsFor, type AlertOptions} from './alerts.js';
import {decodeEntry, diffConnection, encodeEntry, removedEvent, type CompactEntry} from './events.js';
import {assessHealth, type HealthAssessment} from './health.js';
import {chosenGroups, readConnectionPages, readGroups, type ReadPosition} from './read-account.js';
import type {MonitoringState} from './state.js';
import type {ConnectionRow, EventRow} from './tables.js';
import type {TenantMatcher} from './tenants.js';

// what ./fivetran monitor reads of a check
export type {ConnectionRow} from './tables.js';
export type {MonitoringState} from './state.js';

export interface CheckSettings extends AlertOptions {
  /** only these groups; every group when empty */
  groupIds: readonly string[];
  /** what the caller calls the groups setting, for messages (default `group_ids`; the CLI's `--group`) */
  groupIdsSetting?: string;
  tenant: TenantMatcher;
  /** groups read at once when groupIds is set */
  concurrency: number;
}

/** Connections between the points inside a page where a check may checkpoint (when the call is short of room). */
export const CHECKPOINT_EVERY = 250;

export interface RunCheckOptions {
  now?: () => number;
  /**
   * The call's budget, asked every CHECKPOINT_EVERY connections inside a page whether a checkpoint is due,
   * so the Function adapter can stop inside a page when the response, the time or the memory runs short.
   * Without it checks checkpoint between pages only (checkpoints copy and serialize the state, which is not
   * free for thousands of connections).
   */
  budget?: Pick<BudgetView, 'shouldCheckpoint'>;
}

export function connectionRow(connection: Connection, assessment: HealthAssessment, checkedAt: string, tenantId: string | null, groupName: string | null): ConnectionRow {
  const status = connection.status ?? {};
  return {
    checked_at: checkedAt,
    connection_id: connection.id,
    group_id: connection.group_id,
    group_name: groupName,
    schema_name: connection.schema,
    service: connection.service,
    tenant_id: tenantId,
    setup_state: status.setup_state ?? null,
    sync_state: status.sync_state ?? null,
    update_state: status.update_state ?? null,
    paused: connection.paused === true,
    schedule_type: connection.schedule_type ?? null,
    sync_frequency: connection.sync_frequency ?? null,
    succeeded_at: connection.succeeded_at ?? null,
    failed_at: connection.failed_at ?? null,
    is_historical_sync: status.is_historical_sync ?? null,
    rescheduled_for: status.rescheduled_for ?? null,
    health: assessment.health,
    minutes_since_success: assessment.minutesSinceSuccess,
    delay_minutes: assessment.delayMinutes,
    task_message: status.tasks?.[0]?.message ?? null,
    warning_message: status.warnings?.[0]?.message ?? null,
  };
}


/**
 * Runs (or resumes) one check and yields its rows and checkpoints. `now` is read once, when a check starts;
 * a resumed check keeps the time of its first call.
 */
export async function* runCheck(api: FivetranApi, settings: CheckSettings, state: MonitoringState, options: RunCheckOptions = {}): AsyncGenerator<Emit<MonitoringState>> {
  const now = options.now ?? Date.now;
  const memory: Record<string, CompactEntry> = {...(state.connections ?? {})};
  const openAlerts: OpenAlerts = {...(state.open_alerts ?? {})};
  const chosenMode = settings.groupIds.length > 0;
  // Resume the check in progress unless the group selection changed under it (its position would be wrong).
  const resumable = state.check !== undefined && (state.check.position.group_index !== undefined) === chosenMode;
  const checkedAt = resumable ? state.check!.checked_at : new Date(now()).toISOString();
  const checkedAtMs = Date.parse(checkedAt);
  const position: ReadPosition = resumable ? state.check!.position : {};
  const checkNumber = resumable ? state.check!.number : (state.checks ?? 0) + 1;
  const diffOptions = {errorWindowHours: settings.errorWindowHours, maxRecentFailures: Math.max(1, settings.frequentFailureCount), checkNumber};
  const progress = (next: ReadPosition): MonitoringState => ({
    ...(state.last_checked_at ? {last_checked_at: state.last_checked_at} : {}),
    checks: checkNumber - 1,
    check: {checked_at: checkedAt, number: checkNumber, position: {...next}},
    connections: {...memory},
    open_alerts: {...openAlerts},
  });

  const groupsRequest = readGroups(api);
  groupsRequest.catch(() => undefined);
  const groupIds = chosenMode ? chosenGroups(settings.groupIds, await groupsRequest, settings.groupIdsSetting) : [];
  // Pipelined: the next page is requested while this one is processed (and the first one beside the
  // groups), so a check costs about pages × latency rather than pages × (latency + processing).
  const pages = readConnectionPages(api, {groupIds, concurrency: settings.concurrency, resume: position});
  const prefetch = () => {
    const next = pages.next();
    next.catch(() => undefined);
    return next;
  };
  let pending = prefetch();
  // A call stopped inside a page resumes after the connections it delivered.
  let skip = position.skip ?? 0;
  const groups = await groupsRequest;
  const groupNames = new Map(groups.map((group) => [group.id, group.name]));

  if (!resumable) {
    const wanted = groupIds.length ? new Set(groupIds) : null;
    for (const group of groups) {
      if (wanted && !wanted.has(group.id)) continue;
      yield upsert('groups', {group_id: group.id, group_name: group.name, created_at: group.created_at ?? null, tenant_id: settings.tenant(null, group.name), checked_at: checkedAt});
    }
    yield checkpoint(progress({}));
  }

  try {
    for (;;) {
      const result = await pending;
      if (result.done) break;
      const page = result.value;
      pending = prefetch();
      const start = skip;
      skip = 0;
      for (let index = start; index < page.connections.length; index++) {
        const connection = page.connections[index]!;
        const groupName = groupNames.get(connection.group_id) ?? null;
        const assessment = assessHealth(connection, checkedAtMs, settings);
        const tenantId = settings.tenant(connection.schema, groupName);
        const previous = decodeEntry(memory[connection.id]);
        const {events, memory: seen} = diffConnection(connection, assessment.health, previous, checkedAtMs, diffOptions);
        memory[connection.id] = encodeEntry(seen);
        yield upsert('connections', {...connectionRow(connection, assessment, checkedAt, tenantId, groupName)});
        for (const event of events) {
          yield upsert('connection_events', {...event, group_id: connection.group_id, tenant_id: tenantId, schema_name: connection.schema});
        }
        const alerts = alertsFor({connection, assessment, tenantId, groupName, recentFailures: seen.recentFailures}, checkedAt, settings);
        for (const alert of alerts) yield upsert('alerts', {...alert});
        for (const row of foldConnectionAlerts(openAlerts, connection.id, alerts, checkedAt)) yield upsert('alert_history', {...row});
        const delivered = index + 1;
        if ((delivered - start) % CHECKPOINT_EVERY === 0 && delivered < page.connections.length &&
          options.budget?.shouldCheckpoint()) {
          yield checkpoint(progress({...page.at, skip: delivered}));
        }
      }
      if (page.next) yield checkpoint(progress(page.next));
      // After the last page come the finishing rows (removals, resolutions) and the final state, grown by the
      // whole page: when they may not fit, a call of their own finishes (it reads this page again, skipping it).
      else if (page.connections.length > start && options.budget?.shouldCheckpoint()) yield checkpoint(progress({...page.at, skip: page.connections.length}));
    }
  } finally {
    // A call stopped at a checkpoint leaves a prefetched page unread; the next call asks for it again.
    void pages.return(undefined).catch(() => undefined);
  }

  // Connections the previous check saw and this one did not were deleted (or left the chosen groups).
  for (const [id, entry] of Object.entries(memory)) {
    const previous = decodeEntry(entry);
    if (previous && previous.lastSeen === checkNumber) continue;
    if (previous) yield upsert('connection_events', {...removedEvent(id, previous, checkedAtMs), group_id: null, tenant_id: null, schema_name: null});
    delete memory[id];
  }
  // every connection left in memory was read by this check, and folded its alerts then
  for (const row of resolveUnseen(openAlerts, (id) => id in memory, checkedAt)) yield upsert('alert_history', {...row});
  yield checkpoint<MonitoringState>({last_checked_at: checkedAt, checks: checkNumber, connections: {...memory}, open_alerts: {...openAlerts}});
}

export interface CheckResult {
  checkedAt: string;
  groups: Record<string, unknown>[];
  connections: ConnectionRow[];
  events: EventRow[];
  alerts: ReturnType<typeof alertsFor>;
  state: MonitoringState;
}

/** Runs a whole check in memory (the CLI's way): every row, and the state to keep for the next check. */
export async function collectCheck(api: FivetranApi, settings: CheckSettings, state: MonitoringState = {}, now: () => number = Date.now): Promise<CheckResult> {
  const result: CheckResult = {checkedAt: '', groups: [], connections: [], events: [], alerts: [], state};
  // The CLI always runs a whole check: a check left half-done by an interrupted run starts over.
  const {check: _unfinished, ...fresh} = state;
  for await (const item of runCheck(api, settings, fresh, {now})) {
    if (item.kind === 'checkpoint') result.state = item.state;
    if (item.kind !== 'upsert') continue;
    if (item.table === 'groups') result.groups.push(item.row);
    else if (item.table === 'connections') result.connections.push(item.row as ConnectionRow);
    else if (item.table === 'connection_events') result.events.push(item.row as EventRow);
    else if (item.table === 'alerts') result.alerts.push(item.row as unknown as CheckResult['alerts'][number]);
  }
  result.checkedAt = result.state.last_checked_at ?? new Date(now()).toISOString();
  return result;
}
