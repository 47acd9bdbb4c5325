// The one test harness of every connector: calls go through the Function adapter the deployed function runs,
// and every answer through the local Fivetran's strict response checks (emulator/response-check.ts) into a
// real DuckDB warehouse, so a response Fivetran would refuse fails the connector's own tests.
//
//   callConnector(connector, request)        one POST, answered as the deployed function answers it
//   syncAll(connector, secrets, {state})     a whole sync: calls while hasMore, each applied, state committed
//   serveConnector(connector)                the connector served on functions-framework on a free port
//
// A test imports this module, never the emulator's internals.
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {checkResponse, ProtocolViolation, type CheckedResponse} from '../emulator/response-check.js';
import {writeState} from '../emulator/state-store.js';
import {httpTransport, inProcessTransport, runSync, SyncFailed, type CallAnswer, type FunctionTransport, type SyncSummary} from '../emulator/sync-runner.js';
import {Warehouse} from '../emulator/warehouse.js';
import type {Connector} from './connector.js';
import {createMain, handleFunctionCall, type CallOptions} from './function-adapter.js';
import {createFunctionServer, listen} from './server.js';
import type {Row, State} from './types.js';

export {ProtocolViolation, SyncFailed, type CheckedResponse, type SyncSummary};

/** The JSON body of an answer: a response on 200, `{errorMessage, errorType}` otherwise. */
export interface AnswerBody {
  state: State;
  insert: Record<string, Row[]>;
  delete: Record<string, Row[]>;
  softDelete?: string[];
  schema: Record<string, {primary_key?: string[]}>;
  hasMore: boolean;
  errorMessage?: string;
  errorType?: string;
}

export interface ConnectorCall {
  status: number;
  /** the body as sent */
  text: string;
  body: AnswerBody;
  /** the response as the local Fivetran accepted it (status 200 only) */
  response?: CheckedResponse;
}

export interface HarnessCallOptions extends CallOptions {
  /** call a served function at this URL instead of the connector in this process */
  url?: string;
}

/** Logs go nowhere unless the test passes a sink. */
const quiet: CallOptions = {sink: () => undefined};

async function answer(connector: Connector | undefined, request: unknown, options: HarnessCallOptions): Promise<CallAnswer> {
  const {url, ...callOptions} = options;
  if (url) return httpTransport(url, {timeoutMs: 120_000})(request as never);
  if (!connector) throw new Error('callConnector needs a connector or a url');
  const result = await handleFunctionCall(connector, JSON.parse(JSON.stringify(request ?? null)), {...quiet, ...callOptions});
  return {status: result.status, body: result.body};
}

function parseBody(text: string): AnswerBody {
  try {
    return JSON.parse(text) as AnswerBody;
  } catch {
    throw new ProtocolViolation([`the answer is not JSON: ${text.slice(0, 200)}`]);
  }
}

/**
 * One call, answered as the deployed function answers it. A 200 goes through the local Fivetran's checks and
 * throws ProtocolViolation when Fivetran would refuse it; an error status is returned for the test to assert.
 */
export async function callConnector(connector: Connector | undefined, request: unknown, options: HarnessCallOptions = {}): Promise<ConnectorCall> {
  const {status, body: text} = await answer(connector, request, options);
  const body = parseBody(text);
  if (status !== 200) return {status, text, body};
  const response = checkResponse(status, text, {capBytes: options.limits?.responseCapBytes});
  return {status, text, body, response};
}

/** A DuckDB warehouse for tests, in memory unless a file is given. */
export class TestWarehouse {
  private constructor(readonly warehouse: Warehouse) {}

  static async open(file = ':memory:'): Promise<TestWarehouse> {
    return new TestWarehouse(await Warehouse.open(file));
  }

  /**
   * The rows of a table as plain values, without `_fivetran_synced` (a time) unless asked for, ordered by
   * `orderBy` (column names) or else by the whole row.
   */
  async rows(schema: string, table: string, options: {orderBy?: string[]; withSynced?: boolean} = {}): Promise<Row[]> {
    const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const exists = await this.warehouse.query(
      `SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = '${schema.replaceAll("'", "''")}' AND table_name = '${table.replaceAll("'", "''")}'`,
    );
    if (Number(exists.rows[0]?.n) === 0) return [];
    const columns = options.withSynced ? '*' : '* EXCLUDE (_fivetran_synced)';
    const order = options.orderBy?.length ? ` ORDER BY ${options.orderBy.map(q).join(', ')}` : '';
    const {rows} = await this.warehouse.query(`SELECT ${columns} FROM ${q(schema)}.${q(table)}${order}`);
    if (!order) rows.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
    return rows as Row[];
  }

  /** Tables of a schema with their row counts. */
  tables(schema: string): Promise<{table: string; rows: number}[]> {
    return this.warehouse.tables(schema);
  }

  query(sql: string): Promise<Row[]> {
    return this.warehouse.query(sql).then((result) => result.rows as Row[]);
  }

  close(): Promise<void> {
    return this.warehouse.close();
  }
}

export interface SyncCall {
  /** the state the call was sent */
  stateIn: State;
  status: number;
  text: string;
  /** the parsed answer (an error body on a non-200) */
  body?: AnswerBody;
}

export interface SyncOptions {
  /** the committed state to start from (default {}: a first sync) */
  state?: State;
  /** where responses land; when absent, a fresh in-memory warehouse, queried through the result (close it with result.warehouse.close()) */
  warehouse?: TestWarehouse;
  /** the destination schema (default: the connector's name) */
  schema?: string;
  maxCalls?: number;
  /** adapter options of every call (limits, sink, now) */
  callOptions?: CallOptions;
  /** call a served function at this URL instead of the connector in this process */
  url?: string;
  /**
   * runs before each call is sent (0-based), e.g. to change the source between calls; with it, each call is
   * sent once the response before it is committed, so that the hook sees the warehouse as that call left it
   * (without it the next call is in flight while the warehouse applies the response before it, as ./fivetran sync does)
   */
  beforeCall?: (call: number) => Promise<void> | void;
}

export interface SyncResult {
  /** the state committed after the last call */
  state: State;
  summary: SyncSummary;
  /** every call made, in order */
  calls: SyncCall[];
  /** the states committed, one per successful call */
  committedStates: State[];
  warehouse: TestWarehouse;
  schema: string;
  /** the rows of a table in the warehouse (see TestWarehouse.rows) */
  rows(table: string, options?: {orderBy?: string[]; withSynced?: boolean}): Promise<Row[]>;
  /** the rows each call inserted into a table, in order, as the function sent them */
  inserted(table: string): Row[];
}

/** A sync that ended with a failed call; `calls` holds every call up to the failed one. */
export class TestSyncFailed extends Error {
  constructor(
    message: string,
    readonly calls: SyncCall[],
    readonly summary: SyncSummary,
    options?: {cause?: unknown},
  ) {
    super(message, options);
    this.name = 'TestSyncFailed';
  }

  /** the failed call's answer */
  get last(): SyncCall | undefined {
    return this.calls[this.calls.length - 1];
  }
}

/**
 * A whole sync as the local Fivetran runs it (`./fivetran sync`): calls while hasMore is true, each answer
 * checked strictly and applied to the warehouse in one transaction before its state is committed. A failed
 * call (an error status, a protocol violation, the warehouse refusing) throws TestSyncFailed.
 */
export async function syncAll(connector: Connector | undefined, secrets: Record<string, unknown>, options: SyncOptions = {}): Promise<SyncResult> {
  const schema = options.schema ?? connector?.name ?? 'connector';
  const warehouse = options.warehouse ?? (await TestWarehouse.open());
  const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-test-sync-'));
  const stateFile = path.join(dir, 'state.json');
  writeState(stateFile, options.state ?? {});
  const inner: FunctionTransport = options.url
    ? httpTransport(options.url, {timeoutMs: 120_000})
    : inProcessTransport(connector ?? fail('syncAll needs a connector or a url'), {...quiet, ...options.callOptions});
  const calls: SyncCall[] = [];
  const committedStates: State[] = [];
  const transport: FunctionTransport = async (request, transportOptions) => {
    if (calls.length > 0 && calls[calls.length - 1]!.status === 200) committedStates.push(request.state as State);
    await options.beforeCall?.(calls.length);
    const record: SyncCall = {stateIn: request.state as State, status: 0, text: ''};
    calls.push(record);
    const result = await inner(request, {signal: transportOptions?.signal});
    record.status = result.status;
    record.text = result.body;
    try {
      record.body = JSON.parse(result.body) as AnswerBody;
    } catch {
      // the strict check reports it
    }
    return result;
  };
  try {
    let summary: SyncSummary;
    try {
      summary = await runSync({
        functionName: schema,
        transport,
        secrets,
        stateFile,
        warehouse: warehouse.warehouse,
        schema,
        maxCalls: options.maxCalls ?? 1000,
        // a hook run before each call sees the warehouse as the call before it committed it
        pipeline: options.beforeCall === undefined,
        capBytes: options.callOptions?.limits?.responseCapBytes,
      });
    } catch (error) {
      if (error instanceof SyncFailed) throw new TestSyncFailed(error.message, calls, error.summary, {cause: error});
      throw error;
    }
    if (calls.length > 0 && calls[calls.length - 1]!.status === 200) committedStates.push(summary.state);
    return {
      state: summary.state,
      summary,
      calls,
      committedStates,
      warehouse,
      schema,
      rows: (table, rowOptions) => warehouse.rows(schema, table, rowOptions),
      inserted: (table) => calls.flatMap((call) => call.body?.insert?.[table] ?? []),
    };
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

function fail(message: string): never {
  throw new Error(message);
}

export interface ServedConnector {
  url: string;
  close(): Promise<void>;
}

let served = 0;

/** The connector's `main` on functions-framework on a free loopback port, as `./fivetran serve` runs it. */
export async function serveConnector(connector: Connector, options: CallOptions = {}): Promise<ServedConnector> {
  const server = createFunctionServer(`test_${connector.name}_${++served}`, createMain(connector, {...quiet, ...options}));
  const url = await listen(server, 0);
  return {
    url: `${url}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** malloc's settings a connector function is deployed with (see MALLOC_ENVIRONMENT): serve it so to measure its memory */
export {MALLOC_ENVIRONMENT} from './budget.js';
