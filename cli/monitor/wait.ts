// ./fivetran monitor wait <connection_id>: waits for the connection's next completed sync, by the rule of
// Fivetran's Airflow provider (docs/fivetran.md §3): with T the later of succeeded_at / failed_at before the
// trigger (nulls as the epoch), a sync still `syncing` is not done; failed_at > T (and newer than
// succeeded_at) is a failure; succeeded_at > T is a success. With --trigger it first checks the setup
// (running the setup tests when not connected), unpauses a paused connection and triggers the sync; a
// `rescheduled` sync on a manual schedule is triggered again after rescheduled_for (+ a grace period).
// Exit codes: 0 success, 1 failure (or setup broken), 3 timeout.
import {ConnectionSchema, FivetranApiError, type Connection, type FivetranApi} from '../../sdk/fivetran-api.js';
import {formatDuration, timestampMs} from '../../connectors/monitoring/public.js';
import {CommandFailed, UsageError} from '../errors.js';
import {PLATFORM_CONNECTOR_SERVICE} from './metadata.js';
import {projectRoot} from '../../project/root.js';
import {lockEntry} from '../lock.js';
import {ProgressLine} from '../output.js';
import {apiFromEnv, parseDuration, type MonitorCommonOptions} from './common.js';
import {sleep} from '../../sdk/retry.js';

export const EXIT_SYNC_FAILED = 1;
export const EXIT_TIMEOUT = 3;

export interface MonitorWaitOptions extends MonitorCommonOptions {
  /** the connection to wait for; or `metadata` to wait for the Platform Connector's */
  connectionId?: string;
  metadata?: boolean;
  /** e.g. 30m (default) */
  timeout?: string;
  /** e.g. 15s (default) */
  poll?: string;
  trigger?: boolean;
  /** extra wait after rescheduled_for before triggering again (default 1 minute, as the Airflow provider) */
  rescheduleGraceMs?: number;
  /** a live status line (default: on a terminal only) */
  progress?: boolean;
}

export interface WaitResult {
  outcome: 'succeeded';
  connection_id: string;
  succeeded_at: string;
  waited_ms: number;
  polls: number;
  triggers: number;
}

/** A deploy.yaml function's connection id from fivetran.lock.yaml (what ./fivetran connect recorded), if `name` is one. */
function connectionOfFunction(name: string, cwd?: string): string | undefined {
  try {
    return lockEntry(projectRoot(cwd), name)?.connection_id;
  } catch {
    return undefined; // outside a project, or no lock: the name is a connection id
  }
}

/** The one Platform Connector connection of the account (docs/fivetran.md §4). */
async function platformConnectorId(api: FivetranApi): Promise<string> {
  const found: Connection[] = [];
  for await (const page of api.pages('connections', ConnectionSchema, {what: 'the connections'})) found.push(...page.items.filter((c) => c.service === PLATFORM_CONNECTOR_SERVICE));
  if (found.length === 1) return found[0]!.id;
  if (found.length === 0) throw new CommandFailed(`no Platform Connector connection (service ${PLATFORM_CONNECTOR_SERVICE}) in the account; add one in Fivetran so fivetran_metadata is synced`);
  throw new UsageError(`the account has ${found.length} Platform Connector connections (${found.map((c) => c.id).join(', ')}); give the one to wait for as the connection id`);
}

const firstMessage = (c: Connection): string | undefined => c.status?.tasks?.[0]?.message ?? c.status?.warnings?.[0]?.message;

/** The outcome of the rule for one poll. */
export function completion(connection: Connection, baseline: number): 'running' | 'failed' | 'succeeded' | 'pending' {
  if (connection.status?.sync_state === 'syncing') return 'running';
  const succeeded = timestampMs(connection.succeeded_at) ?? 0;
  const failed = timestampMs(connection.failed_at) ?? 0;
  if (failed > baseline && failed > succeeded) return 'failed';
  if (succeeded > baseline) return 'succeeded';
  return 'pending';
}

async function trigger(api: FivetranApi, id: string, write: (text: string) => void): Promise<void> {
  try {
    await api.triggerSync(id);
  } catch (error) {
    // 409: a sync is already running; its completion is what we wait for.
    if (error instanceof FivetranApiError && error.httpStatus === 409) {
      write(`${id}: a sync is already running; waiting for it\n`);
      return;
    }
    throw error;
  }
}

export async function monitorWait(options: MonitorWaitOptions): Promise<WaitResult> {
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  const timeoutMs = parseDuration(options.timeout ?? '30m', '--timeout');
  const pollMs = parseDuration(options.poll ?? '15s', '--poll');
  const grace = options.rescheduleGraceMs ?? 60_000;
  const api = apiFromEnv(options.env, options.retries);
  const id = (options.connectionId && connectionOfFunction(options.connectionId, options.cwd)) ?? options.connectionId ?? (options.metadata ? await platformConnectorId(api) : undefined);
  if (!id) throw new UsageError('give the connection id to wait for, or --metadata for the Platform Connector');
  const line = new ProgressLine(options.progress);
  const started = Date.now();
  const deadline = started + timeoutMs;
  let polls = 0;
  let triggers = 0;

  let {data: connection} = await api.getConnection(id);
  const baseline = Math.max(timestampMs(connection.succeeded_at) ?? 0, timestampMs(connection.failed_at) ?? 0);
  if (options.trigger) {
    if (connection.status?.setup_state !== 'connected') {
      ({data: connection} = await api.runSetupTests(id));
      if (connection.status?.setup_state !== 'connected') {
        throw new CommandFailed(`${id}: setup is ${connection.status?.setup_state ?? 'unknown'}${firstMessage(connection) ? ` (${firstMessage(connection)})` : ''}; fix the connection in Fivetran before triggering it`, EXIT_SYNC_FAILED);
      }
    }
    if (connection.paused) {
      await api.updateConnection(id, {paused: false});
      write(`${id}: unpaused\n`);
    }
    await trigger(api, id, write);
    triggers++;
  }

  try {
    for (;;) {
      ({data: connection} = await api.getConnection(id));
      polls++;
      const outcome = completion(connection, baseline);
      const elapsed = formatDuration(Date.now() - started);
      if (outcome === 'failed') {
        throw new CommandFailed(`${id}: the sync failed at ${connection.failed_at}${firstMessage(connection) ? ` (${firstMessage(connection)})` : ''} after ${elapsed}`, EXIT_SYNC_FAILED);
      }
      if (outcome === 'succeeded') {
        line.done();
        write(`${id}: the sync succeeded at ${connection.succeeded_at} after ${elapsed}\n`);
        return {outcome: 'succeeded', connection_id: id, succeeded_at: String(connection.succeeded_at), waited_ms: Date.now() - started, polls, triggers};
      }
      const state = connection.status?.sync_state ?? 'unknown';
      let nextPoll = Date.now() + pollMs;
      const rescheduledFor = timestampMs(connection.status?.rescheduled_for);
      if (state === 'rescheduled' && rescheduledFor !== null) {
        line.update(`${id}: rescheduled until ${connection.status?.rescheduled_for} (${elapsed})`);
        if (options.trigger && connection.schedule_type === 'manual') {
          const retryAt = rescheduledFor + grace;
          if (retryAt > deadline) {
            throw new CommandFailed(`${id}: timed out: the sync is rescheduled until ${connection.status?.rescheduled_for}, after the ${options.timeout ?? '30m'} timeout; raise --timeout`, EXIT_TIMEOUT);
          }
          await sleep(retryAt - Date.now());
          await trigger(api, id, write);
          triggers++;
          continue;
        }
      } else {
        line.update(`${id}: ${state} (${elapsed}, poll ${polls})`);
      }
      if (nextPoll > deadline) nextPoll = deadline;
      if (Date.now() >= deadline) {
        throw new CommandFailed(`${id}: timed out after ${options.timeout ?? '30m'} waiting for the sync to complete (sync_state ${state}, last success ${connection.succeeded_at ?? 'never'}); raise --timeout or check the connection`, EXIT_TIMEOUT);
      }
      await sleep(nextPoll - Date.now());
    }
  } finally {
    line.done();
  }
}
