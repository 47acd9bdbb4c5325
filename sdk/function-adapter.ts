// The Cloud Functions adapter: one HTTP call = one response. It runs the connector's `sync`, gathers records
// into the response, and stops at the first checkpoint after a budget is spent (response bytes, time to the
// deadline, memory). Records after the last checkpoint of a stopped call are dropped; the next call resumes
// from that checkpoint. `hasMore` is true only when the call stopped early with progress. Over HTTP, a
// response past STREAM_AFTER_BYTES is streamed: each checkpoint's rows are written as it commits, the state
// last (see ResponseStream).
import type {HttpFunction} from '@google-cloud/functions-framework';
import {Budget, limitsFromEnv, type BudgetLimits, type BudgetReason} from './budget.js';
import type {Connector} from './connector.js';
import {ConnectorError, DeadlineError, DeadlineReached, ProtocolError, RequestError, SecretsError, toErrorResponse} from './errors.js';
import {Logger, redactText, type LogSink} from './log.js';
import {parseSecrets, secretValues} from './secrets.js';
import {ResponseBuilder, type Chunk, type ResponseStream} from './function-response.js';
import {parseState} from './state.js';
import {TableRegistry} from './table-registry.js';
import type {Emit, State} from './types.js';

export type {Chunk, ResponseStream} from './function-response.js';

export interface CallOptions {
  /** budget overrides; defaults come from the environment (limitsFromEnv) */
  limits?: Partial<BudgetLimits>;
  sink?: LogSink;
  now?: () => number;
  /** stream the response here once it is large (see ResponseStream); without it the body is returned whole */
  stream?: ResponseStream;
  /** committed bytes of rows after which a call streams (default STREAM_AFTER_BYTES) */
  streamAfterBytes?: number;
  /** aborts the sync (the caller went away) */
  signal?: AbortSignal;
  /** size of the request body as received (createMain passes it); measured from the body when absent */
  requestBytes?: number;
}

/** Responses smaller than this are answered whole, with a Content-Length; larger ones are streamed. */
export const STREAM_AFTER_BYTES = 1024 * 1024;

export interface CallSummary {
  hasMore: boolean;
  /** `end_call`: the connector ended the call at a checkpoint (Emit checkpoint's endCall) */
  stopReason: BudgetReason | 'finished' | 'source_error' | 'error_while_streaming' | 'setup_test' | 'end_call';
  rows: Record<string, number>;
  deletes: Record<string, number>;
  bytes: number;
  durationMs: number;
}

export interface CallResult {
  status: number;
  /** the serialized JSON body ('' when it was streamed) */
  body: string;
  /** the body went to options.stream, which has been ended */
  streamed?: boolean;
  summary?: CallSummary;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * Cloud Functions (2nd gen) refuses HTTP requests over 32 MiB before they reach the function; the adapter
 * holds every request to it, over HTTP (functions-framework itself allows 1 GiB) and in process.
 */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/**
 * Deeper state or secrets are refused: JSON.parse reads any depth, but every recursive step after it (the
 * response's JSON.stringify, zod, a connector) overflows the stack somewhere past ~10,000 levels. No real
 * state comes near 100.
 */
export const MAX_NESTING_DEPTH = 1000;

/** The request body is larger than a Cloud Function accepts: 413. */
export class RequestTooLargeError extends ConnectorError {
  override readonly status = 413;
  override readonly errorType = 'RequestTooLarge';
}

const mib = (bytes: number) => `${Number((bytes / 1024 / 1024).toFixed(1))} MiB`;

/** What a JSON value is, in words, for messages: "a string", "a list", "null". */
export function describeJsonValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' ? 'a number' : typeof value === 'boolean' ? 'a boolean' : typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

/** True when `value` nests objects or lists more than `limit` levels deep (walked without recursion). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** Refuses a request body over MAX_REQUEST_BYTES with a one-line 413. */
export function checkRequestBytes(bytes: number): void {
  if (bytes > MAX_REQUEST_BYTES) {
    throw new RequestTooLargeError(`the request body is ${mib(bytes)}, over the ${mib(MAX_REQUEST_BYTES)} a Cloud Function accepts; send a smaller state and secrets`);
  }
}

function emptyResponse(state: State): string {
  return JSON.stringify({state, insert: {}, delete: {}, schema: {}, hasMore: false});
}

/** Validates the request envelope; returns its parts or throws RequestError/SecretsError. */
export function readRequest(body: unknown): {state: State; secrets: Record<string, unknown>; syncId?: string; setupTest: boolean; agent?: string} {
  if (!isPlainObject(body)) {
    throw new RequestError(`the request body must be a JSON object like {"state": {}, "secrets": {...}}, not ${describeJsonValue(body)}; check the caller`);
  }
  const {state, secrets, sync_id: syncId, setup_test: setupTest, agent} = body;
  if (state !== undefined && state !== null && !isPlainObject(state)) throw new RequestError('"state" must be a JSON object; send {} on the first sync');
  if (secrets !== undefined && secrets !== null && !isPlainObject(secrets)) throw new SecretsError('"secrets" must be a JSON object of key/value pairs; fix the connection setup');
  if (nestedDeeperThan(state, MAX_NESTING_DEPTH)) {
    throw new RequestError(`"state" is nested more than ${MAX_NESTING_DEPTH} levels deep; no connector writes such a state: send the state of the last response, or {} to start over`);
  }
  if (nestedDeeperThan(secrets, MAX_NESTING_DEPTH)) throw new SecretsError(`"secrets" is nested more than ${MAX_NESTING_DEPTH} levels deep; fix the connection setup`);
  if (syncId !== undefined && syncId !== null && typeof syncId !== 'string') throw new RequestError('"sync_id" must be a string');
  if (setupTest !== undefined && setupTest !== null && typeof setupTest !== 'boolean') throw new RequestError('"setup_test" must be true or false');
  return {
    state: (state ?? {}) as State,
    secrets: (secrets ?? {}) as Record<string, unknown>,
    syncId: (syncId ?? undefined) as string | undefined,
    setupTest: setupTest === true,
    agent: typeof agent === 'string' ? agent : undefined,
  };
}

/**
 * Runs one Function call in-process: validates, runs `test` or `sync` within the budgets, and returns the
 * status and serialized body. Never throws; failures become {errorMessage, errorType} bodies.
 */
export async function handleFunctionCall(connector: Connector, requestBody: unknown, options: CallOptions = {}): Promise<CallResult> {
  const startedAt = (options.now ?? Date.now)();
  const rawSecrets = isPlainObject(requestBody) && isPlainObject(requestBody.secrets) ? requestBody.secrets : {};
  const redactions = secretValues(connector.secrets, rawSecrets);
  const syncId = isPlainObject(requestBody) && typeof requestBody.sync_id === 'string' ? requestBody.sync_id : undefined;
  const log = new Logger({connector: connector.name, syncId, redact: redactions, sink: options.sink});
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([controller.signal, options.signal]) : controller.signal;
  let timer: NodeJS.Timeout | undefined;
  try {
    const request = readRequest(requestBody);
    // over HTTP createMain has counted the bytes received; in process, the body as it would be sent
    checkRequestBytes(options.requestBytes ?? Buffer.byteLength(JSON.stringify(requestBody)));
    const {secrets, unknownKeys} = parseSecrets(connector.secrets, request.secrets);
    if (unknownKeys.length) log.warn(`ignoring unknown secret keys: ${unknownKeys.join(', ')}`);
    const budget = new Budget(limitsFromEnv(options.limits), {now: options.now, startedAt});
    // At the deadline (the timeout less the reserve kept to answer), ctx.signal aborts: connectors cancel their
    // queries and requests, and the call answers its last checkpoint, or an error, before the platform's timeout.
    let reachDeadline!: () => void;
    const deadline = new Promise<void>((resolve) => (reachDeadline = resolve));
    timer = setTimeout(() => {
      controller.abort(new DeadlineReached(`the call reached its deadline (${budget.limits.timeoutSeconds} s function timeout, less ${seconds(budget.limits.reserveMs)} kept to answer)`));
      reachDeadline();
    }, budget.timeLeftMs());
    timer.unref();

    if (request.setupTest) {
      log.info('setup test started');
      const graceMs = Math.min(2000, budget.limits.reserveMs / 2);
      const outcome = await beforeDeadline(connector.test({secrets, log, signal}), deadline, graceMs);
      if (outcome.stopped) throw deadlineFailure(connector.name, 'the setup test', budget, outcome);
      log.info('setup test passed');
      return {status: 200, body: emptyResponse(request.state), summary: {hasMore: false, stopReason: 'setup_test', rows: {}, deletes: {}, bytes: 0, durationMs: Date.now() - startedAt}};
    }
    const state = parseState(connector.name, connector.state, request.state);
    return await runSync(connector, {secrets, state, budget, log, syncId: request.syncId, signal}, request.state, deadline, options);
  } catch (error) {
    const {status, body} = toErrorResponse(error, connector.name);
    body.errorMessage = redactText(body.errorMessage, redactions);
    log.log(status >= 500 ? 'ERROR' : 'WARNING', body.errorMessage, {
      errorType: body.errorType,
      ...(status >= 500 && error instanceof Error && !(error instanceof ConnectorError) ? {stack: error.stack} : {}),
      ...(error instanceof Error && error.cause ? {cause: String(error.cause)} : {}),
    });
    return {status, body: JSON.stringify(body)};
  } finally {
    if (timer) clearTimeout(timer);
  }
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

type Settled<T> = {value: T} | {error: unknown};

/**
 * Awaits `work` unless the deadline comes first; then waits up to `graceMs` more for the work to stop on its
 * own (it sees ctx.signal abort and throws saying what it was waiting for). `stuck`: it did not stop.
 */
async function beforeDeadline<T>(work: Promise<T>, deadline: Promise<void>, graceMs: number): Promise<{stopped: false; value: T} | {stopped: true; stuck: boolean; error?: unknown}> {
  const settled: Promise<Settled<T>> = work.then(
    (value) => ({value}),
    (error: unknown) => ({error}),
  );
  const first = await Promise.race([settled, deadline.then(() => undefined)]);
  if (first !== undefined) {
    if ('error' in first) throw first.error;
    return {stopped: false, value: first.value};
  }
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([settled, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), graceMs)))]);
  clearTimeout(timer);
  return {stopped: true, stuck: late === undefined, error: late !== undefined && 'error' in late ? late.error : undefined};
}

/** The error of a call that reached its deadline without progress to answer. */
function deadlineFailure(name: string, what: string, budget: Budget, outcome: {stuck: boolean; error?: unknown}): DeadlineError {
  const timeout = `${budget.limits.timeoutSeconds} s`;
  if (outcome.error instanceof ConnectorError) {
    return new DeadlineError(`${name} reached the call's deadline (${timeout} function timeout) during ${what}: ${outcome.error.message}`, {cause: outcome.error});
  }
  return new DeadlineError(
    `${name} reached the call's deadline (${timeout} function timeout) during ${what}${outcome.stuck ? ' and did not stop when asked' : ''}, before its first checkpoint; ` +
      'something it waited on (a query, a lock, an HTTP request) took the whole call: check the source, or raise the function timeout',
    {cause: outcome.error},
  );
}

/** Raised inside runSync when the deadline stops the call between two records. */
class DeadlineStop extends Error {
  constructor(readonly outcome: {stuck: boolean; error?: unknown}) {
    super('deadline');
  }
}

/**
 * The call loop: pulls `sync`'s items into the response until it finishes, a budget is spent at a
 * checkpoint, or the deadline comes; then answers what is committed.
 */
async function runSync(
  connector: Connector,
  ctx: {secrets: unknown; state: object; budget: Budget; log: Logger; syncId: string | undefined; signal: AbortSignal},
  /** the state as sent: a call that commits the same state and no rows made no progress */
  sentState: State,
  deadline: Promise<void>,
  options: CallOptions,
): Promise<CallResult> {
  const {budget, log} = ctx;
  const response = new ResponseBuilder(new TableRegistry(connector.name, connector.tables), sentState, budget, options.stream, options.streamAfterBytes ?? STREAM_AFTER_BYTES);
  let stopReason: CallSummary['stopReason'] = 'finished';
  const iterator = connector.sync({...ctx, secrets: ctx.secrets as never, state: ctx.state as never})[Symbol.asyncIterator]();
  let stopped = false;
  /** the deadline came while `sync` was busy and it did not stop: ending it would wait for it */
  let stuck = false;
  const graceMs = Math.min(2000, budget.limits.reserveMs / 2);
  const next = async (): Promise<IteratorResult<Emit<object>>> => {
    const outcome = await beforeDeadline(iterator.next(), deadline, graceMs);
    if (!outcome.stopped) return outcome.value;
    stuck ||= outcome.stuck;
    throw new DeadlineStop(outcome);
  };

  /**
   * A budget is spent at a checkpoint. If `sync` has nothing left, the call is simply finished (hasMore
   * false), so look one step ahead: answering hasMore true there would make Fivetran call again for a sync
   * that is over. Whatever that step yields comes after the checkpoint and is dropped with the rest.
   */
  const finishedAfterCheckpoint = async (): Promise<boolean> => {
    try {
      return (await next()).done === true;
    } catch (error) {
      if (error instanceof DeadlineStop) return false;
      log.warn(`stopping at the last checkpoint; the next call resumes from it: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
  };

  try {
    for (;;) {
      const result = await next();
      if (result.done) break;
      const item = result.value;
      switch (item.kind) {
        case 'table':
          response.declare(item.table, item.spec);
          break;
        case 'upsert':
          response.upsert(item.table, item.row);
          break;
        case 'upsertJson':
          response.upsertJson(item.table, item.json, item.count);
          break;
        case 'upsertRecords':
          // ctx.records is the Partner SDK's: a Function call never offers it
          throw new ProtocolError(`${connector.name} emitted upsertRecords, which only the Partner SDK takes (when ctx.records is set); emit upsertJson or upsert here`);
        case 'delete':
          response.delete(item.table, item.keys);
          break;
        case 'checkpoint': {
          if (!(await response.checkpoint(item.state))) {
            // its state would not fit with the rows since the last checkpoint: end there, hasMore (the rows
            // and the state come again in the next call, whatever `sync` would do next)
            response.dropPending();
            budget.markStopping('response_bytes');
            stopReason = 'response_bytes';
            stopped = true;
            break;
          }
          if (item.endCall && response.progress) {
            // the connector knows more follows (no look-ahead); without progress the call goes on, or Fivetran
            // would be asked to call again for nothing
            stopReason = 'end_call';
            stopped = true;
            break;
          }
          const reason = budget.spent();
          if (reason && response.progress) {
            budget.markStopping(reason);
            if (await finishedAfterCheckpoint()) break;
            stopReason = reason;
            stopped = true;
          }
          break;
        }
        case 'warning':
          log.warn(item.message);
          break;
      }
      if (stopped) break;
      if (response.overCap()) {
        if (!response.progress) {
          throw new ProtocolError(
            `${connector.name} emitted more than the response cap (${budget.limits.responseCapBytes} bytes) before its first checkpoint; checkpoint after smaller batches or raise FIVETRAN_RESPONSE_CAP_BYTES`,
          );
        }
        response.dropPending();
        budget.markStopping('response_bytes');
        if (await finishedAfterCheckpoint()) break;
        stopReason = 'response_bytes';
        stopped = true;
        break;
      }
    }
  } catch (error) {
    if (error instanceof DeadlineStop) {
      if (!response.streaming && !response.progress) throw deadlineFailure(connector.name, 'its sync', budget, error.outcome);
      // answer what is committed; the next call resumes from the last checkpoint
      const why = error.outcome.error instanceof Error ? error.outcome.error.message : error.outcome.stuck ? 'it did not stop when asked' : 'it stopped';
      log.warn(`stopping at the last checkpoint: the call reached its deadline (${why})`);
      stopReason = 'deadline';
      stopped = true;
    } else if (response.streaming) {
      // The response has begun (status 200 is sent): end it with what is committed, and let the next call
      // start from the last checkpoint, where the error, if it persists, is answered as an error.
      log.error(`the call failed after its response had started; answering the committed rows so the next call resumes from the last checkpoint: ${error instanceof Error ? error.message : String(error)}`);
      stopReason = 'error_while_streaming';
      stopped = true;
    } else if (error instanceof ConnectorError && error.retriable && response.progress) {
      // A retriable source failure after committed progress: answer what is committed and let Fivetran call
      // again from that checkpoint rather than losing the work of this call.
      log.warn(`stopping early after a retriable source error; the next call resumes from the last checkpoint: ${error.message}`);
      stopReason = 'source_error';
      stopped = true;
    } else {
      // a failure of the adapter's own checks leaves `sync` suspended: end it, so its `finally` runs
      if (stuck) void iterator.return?.(undefined).catch(() => undefined);
      else await iterator.return?.(undefined).catch(() => undefined);
      throw error;
    }
  }
  // Answer first, then end a stopped `sync` (its `finally` closes connections): a streamed response is
  // complete before the clean-up, which then overlaps the caller's next request.
  const built = response.finish(stopped);
  const summary: CallSummary = {hasMore: stopped, stopReason, rows: built.rows, deletes: built.deletes, bytes: built.bytes, durationMs: budget.elapsedMs()};
  log.info('call finished', {
    has_more: stopped, stop_reason: stopReason, rows: summary.rows, deletes: summary.deletes, bytes: summary.bytes, duration_ms: summary.durationMs,
    ...(built.streamed ? {streamed: true} : {}),
  });
  // a `sync` stuck past the deadline is ended in the background: the answer must not wait for it
  if (stopped && stuck) void iterator.return?.(undefined).catch(() => undefined);
  else if (stopped) await iterator.return?.(undefined).catch(() => undefined);
  return {status: 200, body: built.body, streamed: built.streamed, summary};
}

/** Decodes what functions-framework hands us: parsed JSON, text, or raw bytes (readRequest says when it is no object). */
export function decodeBody(body: unknown): unknown {
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      throw new RequestError('the request body is not valid JSON; send a JSON object with Content-Type: application/json');
    }
  }
  return body;
}

type HttpResponse = Parameters<HttpFunction>[1];

/**
 * functions-framework runs each request inside a `domain` (to answer a crash of the request with a 500).
 * Every event emitter created inside one then enters and leaves the domain around each event it emits, at
 * a cost of microseconds each; pg's connection emits one event per row read, so a large sync spent about a
 * third of the function's CPU time there (measured with a CPU profile of `npm run bench replication`).
 * The adapter answers its own failures (handleFunctionCall never throws), so the call runs outside it; an
 * exception that still escapes is answered by the framework's process-level handlers (a 500, then the
 * instance restarts) instead of by the domain.
 */
function leaveDomain(): void {
  const current = process as unknown as {domain?: {exit(): void} | null};
  const active = current.domain;
  for (let depth = 0; active && current.domain === active && depth < 16; depth++) active.exit();
}

/**
 * A ResponseStream over the function's HTTP response (Express over Node's ServerResponse): the parts of one
 * write go out together (cork/uncork), and backpressure is the socket's. A caller that went away ends the
 * waiting (its 'close') rather than leaving the call hanging on 'drain'.
 */
function httpStream(res: HttpResponse): ResponseStream {
  const writeParts = (parts: readonly Chunk[], last: boolean): boolean => {
    if (res.destroyed) return true;
    res.cork();
    let ok = true;
    const count = last ? parts.length - 1 : parts.length;
    for (let i = 0; i < count; i++) ok = res.write(parts[i]!);
    if (last) res.end(parts[parts.length - 1] ?? '');
    res.uncork();
    return ok;
  };
  return {
    start: () => void res.status(200).type('application/json'),
    write: (parts) => writeParts(parts, false),
    end: (parts) => void writeParts(parts, true),
    drained: () =>
      new Promise<void>((resolve) => {
        if (res.destroyed || !res.writableNeedDrain) return resolve();
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      }),
  };
}

/** The Cloud Functions HTTP entry point of a connector: `export const main = createMain(connector)`. */
export function createMain(connector: Connector, options: CallOptions = {}): HttpFunction {
  return async (req, res) => {
    leaveDomain();
    let result: CallResult;
    if (req.method !== 'POST') {
      const {status, body} = toErrorResponse(new RequestError(`method ${req.method} is not allowed; Fivetran calls the function with POST`), connector.name);
      result = {status, body: JSON.stringify(body)};
    } else {
      let decoded: unknown;
      const received = (req as {rawBody?: Buffer}).rawBody?.length ?? Number(req.headers['content-length'] ?? 0);
      try {
        checkRequestBytes(received);
        decoded = decodeBody(req.body);
      } catch (error) {
        const {status, body} = toErrorResponse(error, connector.name);
        res.status(status).type('application/json').send(JSON.stringify(body));
        return;
      }
      // large responses are streamed as they commit (a plain Node response can; a test double may not)
      const canStream = typeof res.write === 'function' && typeof res.on === 'function';
      const gone = new AbortController();
      if (canStream) {
        res.on('error', () => undefined); // the caller went away mid-response: there is no one to answer
        res.on('close', () => {
          if (!res.writableEnded) gone.abort(new Error('the caller closed the connection before the response was complete'));
        });
      }
      result = await handleFunctionCall(connector, decoded, {
        ...options,
        requestBytes: received || undefined,
        ...(canStream ? {stream: options.stream ?? httpStream(res), signal: options.signal ? AbortSignal.any([options.signal, gone.signal]) : gone.signal} : {}),
      });
      if (result.streamed) return;
    }
    res.status(result.status).type('application/json').send(result.body);
  };
}
