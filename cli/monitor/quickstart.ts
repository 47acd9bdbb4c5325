// ./fivetran monitor quickstart [TRANSFORMATION_ID | --connection ID | --all] [--run]: watches Fivetran
// Quickstart data models (transformations, docs/fivetran.md §2 "Transformations") until their run ends, as the
// old toolkit's monitor_quickstart_deployment.py did. With --run it first starts a run of each; then it polls
// (one list request a poll when it watches several) and prints a line each time a status changes, not each poll.
//
// When is one done: statuses NEW, SCHEDULING, RUNNING and TERMINATING are in progress; any other is the end of
// a run. Without --run an ended status is the answer at once (the last run's outcome: "did my deployment
// work?"). After --run, an ended status counts only once last_ended_at is later than before the trigger, or
// once the run was seen in progress: right after the POST the API may still show the previous outcome.
// SUCCEEDED is success; FAILED, PARTIALLY_SUCCEEDED, CANCELED, BLOCKED (and any status Fivetran adds) are not.
// Exit codes: 0 every one succeeded, 1 one or more did not, 3 timeout (as monitor wait).
import {FivetranApiError, TRANSFORMATION_RUNNING_STATUSES, type FivetranApi, type Transformation} from '../../sdk/fivetran-api.js';
import {formatDuration, timestampMs} from '../../connectors/monitoring/public.js';
import {CommandFailed, EXIT_FAILED, UsageError} from '../errors.js';
import {apiFromEnv, parseDuration, type MonitorCommonOptions} from './common.js';
import {EXIT_TIMEOUT} from './wait.js';
import {sleep} from '../../sdk/retry.js';

export interface MonitorQuickstartOptions extends MonitorCommonOptions {
  /** one transformation; or every Quickstart transformation of `connection`; or `all` of the account's */
  transformationId?: string;
  connection?: string;
  all?: boolean;
  /** start a run of each first */
  run?: boolean;
  /** e.g. 30m (default) */
  timeout?: string;
  /** time between polls, e.g. 15s (default) */
  interval?: string;
  /** print the result as JSON (to `print`, default stdout); the progress lines still go to `write` (stderr) */
  json?: boolean;
  print?: (text: string) => void;
}

export interface QuickstartTransformationResult {
  id: string;
  package_name: string | null;
  status: string;
  last_started_at: string | null;
  last_ended_at: string | null;
  errors: string[];
}

export interface QuickstartResult {
  outcome: 'succeeded' | 'failed' | 'timed_out';
  transformations: QuickstartTransformationResult[];
  waited_ms: number;
  polls: number;
  runs: number;
}

const RUNNING = new Set<string>(TRANSFORMATION_RUNNING_STATUSES);
const QUICKSTART = 'QUICKSTART';

interface Watched {
  id: string;
  /** last_ended_at before --run (ms; 0 when it never ended); null without --run */
  baseline: number | null;
  seenRunning: boolean;
  status?: string;
  latest?: Transformation;
  done: boolean;
}

const packageOf = (t: Transformation | undefined) => t?.transformation_config?.package_name ?? null;
const label = (id: string, t: Transformation | undefined) => (packageOf(t) ? `${id} (${packageOf(t)})` : id);
// dbt's errors run over several lines; the message stays one
const detailOf = (t: Transformation) =>
  t.errors?.length ? t.errors.join('; ').replace(/\s+/g, ' ').trim() : 'the API gave no error detail; open the transformation in the Fivetran dashboard (Transformations) for its run log';
const since = (t: Transformation | undefined) => (t?.status === 'RUNNING' && t.last_started_at ? ` since ${t.last_started_at}` : '');

function ended(watched: Watched, t: Transformation): boolean {
  if (RUNNING.has(t.status)) return false;
  if (watched.baseline === null || watched.seenRunning) return true;
  return (timestampMs(t.last_ended_at) ?? 0) > watched.baseline;
}

/** Up to 5 Quickstart ids of the account for a message, or how to list them when even that fails. */
async function knownIds(api: FivetranApi): Promise<string> {
  try {
    const all = await api.listTransformations(QUICKSTART);
    if (all.length === 0) return 'the account has no Quickstart transformations';
    const shown = all.slice(0, 5).map((t) => label(t.id, t)).join(', ');
    return `its Quickstart transformations: ${shown}${all.length > 5 ? `, and ${all.length - 5} more` : ''}`;
  } catch {
    return 'list them with GET /v1/transformations?type=QUICKSTART';
  }
}

async function selectTransformations(api: FivetranApi, options: MonitorQuickstartOptions): Promise<Transformation[]> {
  if (options.transformationId) {
    try {
      return [(await api.getTransformation(options.transformationId)).data];
    } catch (error) {
      if (!(error instanceof FivetranApiError && error.httpStatus === 404)) throw error;
      throw new UsageError(`no transformation "${options.transformationId}" in the account (${await knownIds(api)}); pass one of those ids, --connection CONNECTION_ID or --all`);
    }
  }
  const quickstarts = await api.listTransformations(QUICKSTART);
  if (options.all) {
    if (quickstarts.length === 0) throw new CommandFailed('the account has no Quickstart transformations; add one in Fivetran (Transformations → Add data models → Quickstart) or pass a transformation id');
    return quickstarts;
  }
  const connection = options.connection!;
  const found = quickstarts.filter((t) => t.transformation_config?.connection_ids?.includes(connection));
  if (found.length) return found;
  await api.getConnection(connection); // an unknown connection fails here, naming it
  throw new CommandFailed(`connection "${connection}" has no Quickstart transformation (${await knownIds(api)}); add one in Fivetran (the connection's Transformations tab) or pass a transformation id`);
}

function resultOf(watched: Watched[]): QuickstartTransformationResult[] {
  return watched.map(({id, latest}) => ({
    id,
    package_name: packageOf(latest),
    status: latest?.status ?? 'unknown',
    last_started_at: latest?.last_started_at ?? null,
    last_ended_at: latest?.last_ended_at ?? null,
    errors: latest?.errors ?? [],
  }));
}

export async function monitorQuickstart(options: MonitorQuickstartOptions): Promise<QuickstartResult> {
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  const print = options.print ?? ((text: string) => process.stdout.write(text));
  const chosen = [options.transformationId, options.connection, options.all || undefined].filter((v) => v !== undefined && v !== '').length;
  if (chosen !== 1) {
    throw new UsageError(`${chosen ? 'give only one of' : 'give'} a transformation id, --connection CONNECTION_ID or --all (the account's Quickstart transformations)`);
  }
  const timeout = options.timeout ?? '30m';
  const timeoutMs = parseDuration(timeout, '--timeout');
  const intervalMs = parseDuration(options.interval ?? '15s', '--interval');
  if (intervalMs <= 0) throw new UsageError(`--interval "${options.interval}" must be longer than 0; use e.g. 15s`);
  const api = apiFromEnv(options.env, options.retries);
  const started = Date.now();
  const deadline = started + timeoutMs;
  let polls = 0;
  let runs = 0;

  const selected = await selectTransformations(api, options);
  const watched: Watched[] = selected.map((t) => ({id: t.id, baseline: null, seenRunning: false, latest: t, done: false}));
  const finish = (outcome: QuickstartResult['outcome']): QuickstartResult => {
    const result: QuickstartResult = {outcome, transformations: resultOf(watched), waited_ms: Date.now() - started, polls, runs};
    if (options.json) print(`${JSON.stringify(result, null, 2)}\n`);
    return result;
  };

  if (options.run) {
    for (const w of watched) {
      w.baseline = timestampMs(w.latest?.last_ended_at) ?? 0;
      try {
        await api.runTransformation(w.id);
        runs++;
        write(`${label(w.id, w.latest)}: run started\n`);
      } catch (error) {
        // 409: a run is in progress already; its end is what we wait for.
        if (!(error instanceof FivetranApiError && error.httpStatus === 409)) throw error;
        w.seenRunning = true;
        write(`${label(w.id, w.latest)}: a run is in progress already; waiting for it\n`);
      }
    }
  }

  for (;;) {
    const pending = watched.filter((w) => !w.done);
    // one request a poll: the transformation itself, or the list when several are watched
    const current = new Map<string, Transformation>();
    if (pending.length === 1) current.set(pending[0]!.id, (await api.getTransformation(pending[0]!.id)).data);
    else for (const t of await api.listTransformations()) current.set(t.id, t);
    polls++;
    const elapsed = formatDuration(Date.now() - started);
    for (const w of pending) {
      const t = current.get(w.id);
      if (!t) throw new CommandFailed(`${label(w.id, w.latest)}: the transformation is gone from the account (deleted while it was watched)`);
      w.latest = t;
      if (RUNNING.has(t.status)) w.seenRunning = true;
      const done = ended(w, t);
      if (t.status !== w.status || done) {
        const name = label(w.id, t);
        if (!done) write(`${name}: ${t.status}${since(t)}${t.paused ? ' (paused)' : ''} (${elapsed})\n`);
        else if (t.status === 'SUCCEEDED') write(`${name}: SUCCEEDED at ${t.last_ended_at ?? 'an unknown time'} (${elapsed})\n`);
        else write(`${name}: ${t.status} at ${t.last_ended_at ?? 'an unknown time'} (${elapsed})\n`); // the error line says why
      }
      w.status = t.status;
      w.done = done;
    }

    if (watched.every((w) => w.done)) {
      const failed = watched.filter((w) => w.latest?.status !== 'SUCCEEDED');
      if (failed.length === 0) return finish('succeeded');
      finish('failed');
      const lines = failed.map((w) => `${label(w.id, w.latest)} ${w.latest!.status} at ${w.latest!.last_ended_at ?? 'an unknown time'}: ${detailOf(w.latest!)}`);
      throw new CommandFailed(watched.length === 1 ? lines[0]! : `${failed.length} of ${watched.length} transformations did not succeed: ${lines.join('; ')}`, EXIT_FAILED);
    }
    if (Date.now() >= deadline) {
      finish('timed_out');
      const still = watched
        .filter((w) => !w.done)
        .map((w) => `${label(w.id, w.latest)} ${w.latest?.status ?? 'unknown'}${since(w.latest)}`);
      const failed = watched.filter((w) => w.done && w.latest?.status !== 'SUCCEEDED').map((w) => `${label(w.id, w.latest)} ${w.latest!.status}: ${detailOf(w.latest!)}`);
      throw new CommandFailed(
        `timed out after ${timeout} with ${still.length} of ${watched.length} still running: ${still.join(', ')}${failed.length ? ` (and already failed: ${failed.join('; ')})` : ''}; raise --timeout or check them in the Fivetran dashboard`,
        EXIT_TIMEOUT,
      );
    }
    await sleep(Math.min(Date.now() + intervalMs, deadline) - Date.now());
  }
}
