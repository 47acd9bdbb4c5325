// Fivetran's side of the Function protocol (docs/fivetran.md §1): one sync is a loop of calls that sends
// {agent, state, secrets, sync_id}, checks each answer strictly, applies it to the warehouse in one
// transaction, and only then commits the returned state, calling again while hasMore is true. A call that
// fails (an error status, a timeout, a protocol violation, a warehouse error) ends the sync and leaves
// both the committed state and the warehouse as the previous call left them. Once a response is checked,
// the next call is sent while the warehouse applies it (the function works while the warehouse loads):
// that response is first kept beside the state file, so that a sync that ends before committing it loses
// nothing, and the next sync applies it before it calls the function (see PendingResponse). The transport is either
// in-process (handleFunctionCall, as tests and the demo use) or HTTP (a `./fivetran serve` or a deployed
// function).
import {randomUUID} from 'node:crypto';
import got, {TimeoutError} from 'got';
import {limitsFromEnv} from '../sdk/budget.js';
import {handleFunctionCall, type CallOptions} from '../sdk/function-adapter.js';
import type {Connector} from '../sdk/connector.js';
import type {FunctionRequest, State} from '../sdk/types.js';
import {ExactNumber, stringifyExactJson} from './exact-json.js';
import {checkResponse, insertedRows, ProtocolViolation, ResponseReader, rowCount, type CheckedResponse, type ParsedBody, type RowsListener} from './response-check.js';
import {pendingFile, readPending, readState, removePending, writePending, writeState} from './state-store.js';
import type {ApplyResult, Warehouse} from './warehouse.js';

export interface CallAnswer {
  status: number;
  body: string;
  /** the body as it was parsed while it arrived (httpTransport); checkResponse parses `body` without it */
  parsed?: ParsedBody;
  /** the body's bytes as received, when the transport has them (what is kept while it is pending; `body` decodes them) */
  raw?(): Buffer;
  /**
   * Called once nothing reads this answer, nor what was made of it, any more: its buffers may hold the next
   * body (runSync calls it after the state of the response is written).
   */
  release?(): void;
}

/**
 * Delivers one request to the function and returns its answer; throws TransportError when there is none. A
 * transport that reads the body as it streams in tells `onRows` of whole rows as they arrive.
 */
export type FunctionTransport = (request: FunctionRequest, options?: TransportCallOptions) => Promise<CallAnswer>;

export interface TransportCallOptions {
  /** whole rows as the body streams in (a transport that reads it as it arrives) */
  onRows?: RowsListener;
  /** aborts the call: the sync failed while it was in flight, and nothing will read its answer */
  signal?: AbortSignal;
}

const seconds = (ms: number) => (ms < 10_000 ? `${Number((ms / 1000).toFixed(1))} s` : `${Math.round(ms / 1000)} s`);

/** The function could not be reached or did not answer in time. */
export class TransportError extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = 'TransportError';
  }
}

/**
 * Calls the connector in this process, through the same adapter a deployed function runs. `timeoutMs`
 * (default: the function's timeout plus 5 s) ends a call whose connector ignores the adapter's deadline.
 */
export function inProcessTransport(connector: Connector, options: CallOptions & {timeoutMs?: number} = {}): FunctionTransport {
  const {timeoutMs: givenTimeoutMs, ...callOptions} = options;
  const timeoutMs = givenTimeoutMs ?? limitsFromEnv(options.limits).timeoutSeconds * 1000 + 5000;
  return async (request, transportOptions) => {
    const given = transportOptions?.signal;
    const signal = given && callOptions.signal ? AbortSignal.any([given, callOptions.signal]) : (given ?? callOptions.signal);
    // through JSON, as over HTTP, so nothing the function keeps can alias the runner's objects
    const call = handleFunctionCall(connector, JSON.parse(stringifyExactJson(request)), {...callOptions, signal});
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new TransportError(`${connector.name} did not answer within ${seconds(timeoutMs)} (its timeout plus 5 s)`)), timeoutMs);
      timer.unref();
    });
    try {
      const result = await Promise.race([call, deadline]);
      return {status: result.status, body: result.body};
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * POSTs each request to a function URL, with an identity token for private functions. A 200 answer is parsed
 * as it streams in (ResponseReader), while the function is still writing it, and its rows are handed to `onRows`
 * in pieces as they arrive (the warehouse inserts them in the response's transaction; see Warehouse.streamResponse).
 */
export function httpTransport(url: string, options: {idToken?: string; timeoutMs: number}): FunctionTransport {
  // the size of the last body read: the next one's buffer is allocated that large at once, or is the last
  // one's when it was released (an 8 MiB buffer a response made the garbage collector run a full collection
  // for every one or two of them)
  let lastBytes = 0;
  let spare: Buffer | undefined;
  return async (request, callOptions) => {
    const headers: Record<string, string> = {'content-type': 'application/json', accept: 'application/json'};
    if (options.idToken) headers.authorization = `Bearer ${options.idToken}`;
    let status = 0;
    // an answer other than 200 is kept as chunks; a 200 one by its reader
    const chunks: Buffer[] = [];
    let reader: ResponseReader | undefined;
    try {
      // got, not fetch: fetch refuses ports on the browser block list (e.g. 6000), which local servers may use
      await new Promise<void>((resolve, reject) => {
        const stream = got.stream.post(url, {
          body: stringifyExactJson(request),
          headers,
          timeout: {request: options.timeoutMs},
          retry: {limit: 0},
          throwHttpErrors: false,
          signal: callOptions?.signal,
        });
        stream.on('response', (response: {statusCode: number}) => {
          status = response.statusCode;
          if (status === 200) {
            reader = new ResponseReader(callOptions?.onRows, lastBytes, spare);
            spare = undefined;
          }
        });
        stream.on('data', (chunk: Buffer) => {
          if (reader) reader.write(chunk);
          else chunks.push(chunk);
        });
        stream.on('end', resolve);
        stream.on('error', reject);
      });
    } catch (error) {
      if (error instanceof TimeoutError) {
        throw new TransportError(`the function at ${url} did not answer within ${seconds(options.timeoutMs)}`, {cause: error});
      }
      const reason = (error as {code?: string}).code ?? (error as Error).message;
      throw new TransportError(`cannot reach ${url} (${reason}); start it with ./fivetran serve <function> or check --url`, {cause: error});
    }
    if (status === 401 || status === 403) {
      throw new TransportError(`${url} refused the call (${status}); a private function needs --id-token <token> (or --id-token gcloud to use gcloud auth print-identity-token)`);
    }
    if (!reader) return {status, body: Buffer.concat(chunks).toString('utf8')};
    const read = reader;
    const parsed = read.end();
    if (!parsed) return {status, body: read.text()};
    lastBytes = parsed.bytes;
    // a parsed answer's text is only read to report a problem: decoding 8 MiB again costs more than the checks
    let text: string | undefined;
    let released = false;
    return {
      status,
      parsed,
      raw: () => read.raw(),
      get body() {
        if (released) throw new Error('the answer was released: its body is no longer kept');
        return (text ??= read.text());
      },
      release() {
        released = true;
        spare = read.buffer;
      },
    };
  };
}

export interface SyncProgress {
  call: number;
  rows: number;
  bytes: number;
  elapsedMs: number;
  hasMore: boolean;
}

export interface SyncSummary {
  function: string;
  schema: string;
  syncId: string;
  calls: number;
  /** rows received per table in `insert`, over the whole sync */
  rows: Record<string, number>;
  /** delete rows received per table */
  deletes: Record<string, number>;
  bytes: number;
  /** the committed state after the last successful call */
  state: State;
  durationMs: number;
  /** finished: hasMore false; max_calls: --max-calls reached; empty_responses: Fivetran's 10-empty-responses rule */
  endedBy: 'finished' | 'max_calls' | 'empty_responses';
  createdTables: string[];
  addedColumns: string[];
  warnings: string[];
}

/** A sync that ended with a failed call; `summary` covers the calls committed before it. */
export class SyncFailed extends Error {
  constructor(
    message: string,
    readonly call: number,
    readonly summary: SyncSummary,
    options?: {cause?: unknown},
  ) {
    super(message, options);
    this.name = 'SyncFailed';
  }
}

export interface RunSyncOptions {
  functionName: string;
  transport: FunctionTransport;
  secrets: Record<string, unknown>;
  stateFile: string;
  warehouse: Warehouse;
  schema: string;
  maxCalls?: number;
  capBytes?: number;
  agent?: string;
  onCall?: (progress: SyncProgress) => void;
  /** before each call is sent (for a "waiting" display during long calls) */
  onCallStart?: (call: number) => void;
  /**
   * false: each call is sent only once the response before it is committed, so that whatever runs before a
   * call (onCallStart, the transport) sees the warehouse as the committed state left it. Default true: the
   * next call is in flight while the warehouse applies the response before it (see PendingResponse).
   */
  pipeline?: boolean;
}

/** Fivetran ends a sync after more than this many consecutive responses without rows. */
export const MAX_CONSECUTIVE_EMPTY_RESPONSES = 10;

/**
 * A sync fails after this many consecutive responses with rows, hasMore true and the very state they were
 * sent: every page is idempotent for its input state, so the next call would answer the same again, forever.
 */
export const MAX_RESPONSES_WITHOUT_PROGRESS = 10;

/** JSON with object keys sorted, to compare states whatever order a function writes their keys in. */
function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null || value instanceof ExactNumber) return stringifyExactJson(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
    .join(',')}}`;
}

/** A call sent, whose answer is awaited. */
interface CallInFlight {
  syncedAt: Date;
  answer: Promise<CallAnswer>;
  controller: AbortController;
}

export async function runSync(options: RunSyncOptions): Promise<SyncSummary> {
  const startedAt = Date.now();
  const summary: SyncSummary = {
    function: options.functionName,
    schema: options.schema,
    syncId: randomUUID(),
    calls: 0,
    rows: {},
    deletes: {},
    bytes: 0,
    state: readState(options.stateFile),
    durationMs: 0,
    endedBy: 'finished',
    createdTables: [],
    addedColumns: [],
    warnings: [],
  };
  let state = await applyPending(options, summary);
  const agent = options.agent ?? `Fivetran Google Cloud Functions Connector/local_${options.schema}/${options.schema}`;
  const send = (call: number, sentState: State, stream: boolean): CallInFlight => {
    options.onCallStart?.(call);
    // rows may be written (not committed) while the body streams in; apply() commits them with the rest
    const syncedAt = new Date();
    const onRows = stream ? options.warehouse.streamResponse(options.schema, syncedAt) : undefined;
    const controller = new AbortController();
    const answer = options.transport({agent, state: sentState, secrets: options.secrets, sync_id: summary.syncId}, {onRows, signal: controller.signal});
    // awaited when its turn comes; a sync that fails before then only waits for it to end
    answer.catch(() => undefined);
    return {syncedAt, answer, controller};
  };
  let totalRows = 0;
  let emptyStreak = 0;
  /** consecutive responses with rows, hasMore true and the state they were sent; since `stuckSince` */
  let stuckStreak = 0;
  let stuckSince = 0;
  /** the next call, sent while the warehouse applies the response before it */
  let next: CallInFlight | undefined;
  try {
    for (;;) {
      if (options.maxCalls !== undefined && summary.calls >= options.maxCalls) {
        summary.endedBy = 'max_calls';
        break;
      }
      const call = summary.calls + 1;
      const fail = (reason: string, cause?: unknown): never => {
        summary.durationMs = Date.now() - startedAt;
        throw new SyncFailed(`call ${call} failed: ${reason}`, call, summary, {cause});
      };
      // the first call's rows may load while its body streams in; a call sent while the warehouse applies
      // the response before it is loaded after it (the warehouse has one transaction at a time)
      const sent = next ?? send(call, state, true);
      next = undefined;
      let answer: CallAnswer;
      let response;
      let applied;
      let rows = 0;
      try {
        try {
          answer = await sent.answer;
        } catch (error) {
          return fail((error as Error).message, error);
        }
        try {
          response = checkResponse(answer.status, () => answer.body, {capBytes: options.capBytes, parsed: answer.parsed});
        } catch (error) {
          if (error instanceof ProtocolViolation) return fail(error.message, error);
          throw error;
        }
        rows = rowCount(response);
        // whether the sync goes on after this response depends on it alone: decided now, so that the next
        // call is in flight while the warehouse applies this one
        if (response.hasMore) {
          if (canonicalJson(response.state) !== canonicalJson(state)) stuckStreak = 0;
          else if (rows > 0 && stuckStreak++ === 0) stuckSince = call;
          emptyStreak = rows === 0 ? emptyStreak + 1 : 0;
        }
        const goesOn =
          response.hasMore && stuckStreak < MAX_RESPONSES_WITHOUT_PROGRESS && emptyStreak <= MAX_CONSECUTIVE_EMPTY_RESPONSES && (options.maxCalls === undefined || call < options.maxCalls);
        if (goesOn && options.pipeline !== false) {
          // the next call carries this response's state, which the function may act on: from now on the
          // response is kept until it is committed
          try {
            writePending(options.stateFile, {stateSent: state, call, body: answer.raw?.() ?? answer.body});
          } catch (error) {
            return fail((error as Error).message, error);
          }
          next = send(call + 1, response.state, false);
        }
        try {
          applied = await options.warehouse.apply(options.schema, response, {syncedAt: sent.syncedAt});
        } catch (error) {
          return fail(next ? `${(error as Error).message} (the response is kept in ${pendingFile(options.stateFile)}; the next sync applies it first)` : (error as Error).message, error);
        }
      } finally {
        // a call that failed leaves nothing of its rows (after apply() there is nothing to discard)
        await options.warehouse.discardStream();
      }
      // the warehouse has committed this response; now the state that goes with it
      try {
        writeState(options.stateFile, response.state);
      } catch (error) {
        return fail(`${(error as Error).message} (the warehouse has this call's rows; the next sync repeats them)`, error);
      }
      // kept while this call's successor was sent before the commit
      if (next) removePending(options.stateFile);
      state = response.state;
      summary.calls = call;
      count(summary, response, applied);
      totalRows += rows;
      options.onCall?.({call, rows: totalRows, bytes: summary.bytes, elapsedMs: Date.now() - startedAt, hasMore: response.hasMore});
      // committed and counted (the counts of scanned rows are the scanner's): the next body may take its buffer
      answer.release?.();
      if (!response.hasMore) break;
      if (stuckStreak >= MAX_RESPONSES_WITHOUT_PROGRESS) {
        summary.durationMs = Date.now() - startedAt;
        throw new SyncFailed(
          `ended at call ${call}: the sync makes no progress: calls ${stuckSince}–${call} each answered rows and hasMore true with the very state they were sent, so every next call would answer the same; ` +
            'advance the state with every page (a cursor past the rows sent), or answer hasMore false when there is nothing more',
          call,
          summary,
        );
      }
      if (emptyStreak > MAX_CONSECUTIVE_EMPTY_RESPONSES) {
        summary.endedBy = 'empty_responses';
        summary.warnings.push(
          `ended the sync after ${emptyStreak} consecutive responses without rows and hasMore true, as Fivetran does; answer hasMore: false when there is nothing more to send`,
        );
        break;
      }
    }
  } finally {
    // the sync failed with a call in flight: stop it, and return once it has ended (its response, if any, is
    // not applied: the function is called again from the state of the response kept pending)
    if (next) {
      next.controller.abort();
      await next.answer.then(
        (answer) => answer.release?.(),
        () => undefined,
      );
    }
  }
  summary.durationMs = Date.now() - startedAt;
  return summary;
}

/** Adds a committed response to the sync's summary. */
function count(summary: SyncSummary, response: CheckedResponse, applied: ApplyResult): void {
  summary.state = response.state;
  summary.bytes += response.bytes;
  for (const table of Object.keys(response.insert)) {
    const rows = insertedRows(response, table);
    if (rows) summary.rows[table] = (summary.rows[table] ?? 0) + rows;
  }
  for (const [table, rows] of Object.entries(response.delete)) if (rows.length) summary.deletes[table] = (summary.deletes[table] ?? 0) + rows.length;
  summary.createdTables.push(...applied.createdTables);
  summary.addedColumns.push(...applied.addedColumns.filter((column) => !applied.createdTables.includes(column.split('.')[0]!)));
  for (const warning of response.warnings) if (!summary.warnings.includes(warning)) summary.warnings.push(warning);
}

/**
 * Applies the response the last sync kept pending (received, the next call sent, not committed: see
 * PendingResponse) before this sync calls the function, and returns the state to call it with. A pending
 * response that followed another state than the committed one (the state file was reset or replaced since)
 * is dropped with a warning.
 */
async function applyPending(options: RunSyncOptions, summary: SyncSummary): Promise<State> {
  const pending = readPending(options.stateFile);
  if (!pending) return summary.state;
  const file = pendingFile(options.stateFile);
  const last = `the response to call ${pending.call} of the last sync`;
  if (canonicalJson(pending.stateSent) !== canonicalJson(summary.state)) {
    removePending(options.stateFile);
    summary.warnings.push(`dropped ${last}, which it received but did not commit (${file}): it followed another state than the one committed now (the state file was reset or replaced)`);
    return summary.state;
  }
  const fail = (reason: string, cause: unknown): never => {
    throw new SyncFailed(
      `${last}, received but not committed and kept in ${file}, cannot be applied: ${reason}; fix that and sync again, or delete ${file} to drop it (its rows are then lost)`,
      0,
      summary,
      {cause},
    );
  };
  let response;
  try {
    response = checkResponse(200, () => pending.body, {capBytes: options.capBytes});
  } catch (error) {
    if (error instanceof ProtocolViolation) return fail(error.message, error);
    throw error;
  }
  let applied;
  try {
    applied = await options.warehouse.apply(options.schema, response, {syncedAt: new Date()});
  } catch (error) {
    return fail((error as Error).message, error);
  }
  writeState(options.stateFile, response.state);
  removePending(options.stateFile);
  count(summary, response, applied);
  summary.warnings.push(`applied ${last} first: that sync ended after it had received it and sent the next call, before it committed it`);
  return response.state;
}
