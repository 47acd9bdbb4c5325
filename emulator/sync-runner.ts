// Fivetran's side of the Function protocol (docs/fivetran.md §1): one sync is a loop of calls that sends
// {agent, state, secrets, sync_id}, checks each answer strictly, applies it to the warehouse in one
// transaction, and only then commits the returned state, calling again while hasMore is true. A call that
// fails (an error status, a timeout, a protocol violation, a warehouse error) ends the sync and leaves
// both the committed state and the warehouse as the previous call left them. The transport is either
// in-process (handleFunctionCall, as tests and the demo use) or HTTP (a `./fivetran serve` or a deployed
// function).
import {randomUUID} from 'node:crypto';
import got, {TimeoutError} from 'got';
import {limitsFromEnv} from '../sdk/budget.js';
import {handleFunctionCall, type CallOptions} from '../sdk/function-adapter.js';
import type {Connector} from '../sdk/connector.js';
import type {FunctionRequest, State} from '../sdk/types.js';
import {ExactNumber, stringifyExactJson} from './exact-json.js';
import {checkResponse, insertedRows, ProtocolViolation, ResponseReader, rowCount, type ParsedBody, type RowsListener} from './response-check.js';
import {readState, writeState} from './state-store.js';
import type {Warehouse} from './warehouse.js';

export interface CallAnswer {
  status: number;
  body: string;
  /** the body as it was parsed while it arrived (httpTransport); checkResponse parses `body` without it */
  parsed?: ParsedBody;
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
export type FunctionTransport = (request: FunctionRequest, options?: {onRows?: RowsListener}) => Promise<CallAnswer>;

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
  return async (request) => {
    // through JSON, as over HTTP, so nothing the function keeps can alias the runner's objects
    const call = handleFunctionCall(connector, JSON.parse(stringifyExactJson(request)), callOptions);
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
        const stream = got.stream.post(url, {body: stringifyExactJson(request), headers, timeout: {request: options.timeoutMs}, retry: {limit: 0}, throwHttpErrors: false});
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

export async function runSync(options: RunSyncOptions): Promise<SyncSummary> {
  const startedAt = Date.now();
  let state = readState(options.stateFile);
  const summary: SyncSummary = {
    function: options.functionName,
    schema: options.schema,
    syncId: randomUUID(),
    calls: 0,
    rows: {},
    deletes: {},
    bytes: 0,
    state,
    durationMs: 0,
    endedBy: 'finished',
    createdTables: [],
    addedColumns: [],
    warnings: [],
  };
  const agent = options.agent ?? `Fivetran Google Cloud Functions Connector/local_${options.schema}/${options.schema}`;
  let totalRows = 0;
  let emptyStreak = 0;
  /** consecutive responses with rows, hasMore true and the state they were sent; since `stuckSince` */
  let stuckStreak = 0;
  let stuckSince = 0;
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
    let answer: CallAnswer;
    options.onCallStart?.(call);
    // rows may be written (not committed) while the body streams in; apply() commits them with the rest
    const syncedAt = new Date();
    const onRows = options.warehouse.streamResponse(options.schema, syncedAt);
    let response;
    let applied;
    try {
      try {
        answer = await options.transport({agent, state, secrets: options.secrets, sync_id: summary.syncId}, {onRows});
      } catch (error) {
        return fail((error as Error).message, error);
      }
      try {
        response = checkResponse(answer.status, () => answer.body, {capBytes: options.capBytes, parsed: answer.parsed});
      } catch (error) {
        if (error instanceof ProtocolViolation) return fail(error.message, error);
        throw error;
      }
      try {
        applied = await options.warehouse.apply(options.schema, response, {syncedAt});
      } catch (error) {
        return fail((error as Error).message, error);
      }
    } finally {
      // a call that failed leaves nothing of its rows (after apply() there is nothing to discard)
      await options.warehouse.discardStream();
    }
    // the warehouse has committed this response; now the state that goes with it
    try {
      writeState(options.stateFile, response.state);
    } catch (error) {
      return fail(`${(error as Error).message} (the warehouse has this call's rows; the next sync repeats the call)`, error);
    }
    const stateSent = state;
    state = response.state;
    summary.calls = call;
    summary.state = state;
    summary.bytes += response.bytes;
    for (const table of Object.keys(response.insert)) {
      const rows = insertedRows(response, table);
      if (rows) summary.rows[table] = (summary.rows[table] ?? 0) + rows;
    }
    for (const [table, rows] of Object.entries(response.delete)) if (rows.length) summary.deletes[table] = (summary.deletes[table] ?? 0) + rows.length;
    summary.createdTables.push(...applied.createdTables);
    summary.addedColumns.push(...applied.addedColumns.filter((column) => !applied.createdTables.includes(column.split('.')[0]!)));
    for (const warning of response.warnings) if (!summary.warnings.includes(warning)) summary.warnings.push(warning);
    const rows = rowCount(response);
    totalRows += rows;
    options.onCall?.({call, rows: totalRows, bytes: summary.bytes, elapsedMs: Date.now() - startedAt, hasMore: response.hasMore});
    // committed and counted (the counts of scanned rows are the scanner's): the next body may take its buffer
    answer.release?.();
    if (!response.hasMore) break;
    if (canonicalJson(response.state) !== canonicalJson(stateSent)) stuckStreak = 0;
    else if (rows > 0 && stuckStreak++ === 0) stuckSince = call;
    if (stuckStreak >= MAX_RESPONSES_WITHOUT_PROGRESS) {
      summary.durationMs = Date.now() - startedAt;
      throw new SyncFailed(
        `ended at call ${call}: the sync makes no progress: calls ${stuckSince}–${call} each answered rows and hasMore true with the very state they were sent, so every next call would answer the same; ` +
          'advance the state with every page (a cursor past the rows sent), or answer hasMore false when there is nothing more',
        call,
        summary,
      );
    }
    emptyStreak = rows === 0 ? emptyStreak + 1 : 0;
    if (emptyStreak > MAX_CONSECUTIVE_EMPTY_RESPONSES) {
      summary.endedBy = 'empty_responses';
      summary.warnings.push(
        `ended the sync after ${emptyStreak} consecutive responses without rows and hasMore true, as Fivetran does; answer hasMore: false when there is nothing more to send`,
      );
      break;
    }
  }
  summary.durationMs = Date.now() - startedAt;
  return summary;
}
