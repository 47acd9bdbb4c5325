// The `Update` call: runs the connector's `sync` to the end (no per-call budget: the stream is the
// transport) and streams what it yields as Partner SDK messages: rows as `Records` batches of at most 100
// records (and ~100 KiB), each checkpoint as `Checkpoint` after the records it covers, warnings as `Warning`,
// and a problem only a person can fix as one `Task` that ends the stream. Honours the table/column selection.
import {randomUUID} from 'node:crypto';
import {getHeapStatistics} from 'node:v8';
import {Budget, limitsFromEnv} from '../budget.js';
import type {Connector} from '../connector.js';
import {ProtocolError, RequestError, needsUserAction, oneLine, toErrorResponse} from '../errors.js';
import type {Logger} from '../log.js';
import {parseSecrets} from '../secrets.js';
import {parseState} from '../state.js';
import {TableRegistry} from '../table-registry.js';
import type {Row, State, TableSpec} from '../types.js';
import type {UpdateRequest__Output} from './generated/fivetran_sdk/v2/UpdateRequest.js';
import type {UpdateResponse} from './generated/fivetran_sdk/v2/UpdateResponse.js';
import {JsonRecords} from './json-records.js';
import {toTable} from './schema.js';
import {chooseTable, type TableChoice} from './selection.js';
import {RecordBatcher, type EncodedMessage} from './record-encoder.js';
import {RecordRows, type RecordLayout, type RecordsOutput} from './record-rows.js';
import {toValueType} from './values.js';

/** The guide's hard limit: Fivetran rejects a `Records` message with more than 100 records. */
export const MAX_BATCH_RECORDS = 100;
/** The Python example's byte cap per batch (serialized size of the Records message, exact: record-encoder.ts). */
export const MAX_BATCH_BYTES = 100 * 1024;

export interface UpdateOptions {
  log: Logger;
  signal: AbortSignal;
  /**
   * writes one message to the stream (a Records batch comes encoded), resolving when the stream can take more
   * (back-pressure); `written`, when given, is called once the transport no longer needs the message's bytes
   * (server.ts: grpc-js has framed them into its own buffer), so a buffer of Records can be written again
   */
  send: (message: UpdateResponse | EncodedMessage, written?: () => void) => Promise<void>;
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  /**
   * Offer the connector `ctx.records` (record-rows.ts), so it may write its rows as Record bytes (default
   * true); false gives it the Function path's context: the reference the tests and benchmarks compare with.
   */
  records?: boolean;
}

export interface UpdateSummary {
  outcome: 'finished' | 'task' | 'cancelled';
  upserts: Record<string, number>;
  deletes: Record<string, number>;
  checkpoints: number;
  batches: number;
  warnings: number;
}

/** How much time a connector may plan one batch for: checkpoints then come well within the guide's hour. */
export const STREAM_BATCH_WINDOW_MS = 10 * 60_000;

/**
 * A Budget that never runs out: a streaming sync has no response size or function deadline, so `spent()` is
 * always null and connectors keep going to the end. What connectors size batches and checkpoints from stays
 * meaningful: bytes count from the last checkpoint (each checkpoint interval plays the part of one Function
 * response, so `roomFor`, `shouldCheckpoint` and `bytesLeft()` measure against the response cap — 8 MiB unless
 * FIVETRAN_RESPONSE_CAP_BYTES — less the bytes since the last checkpoint), `timeLeftMs()` is a rolling
 * 10-minute window, and memory headroom is measured against the V8 heap limit unless FUNCTION_MEMORY_MB says
 * otherwise. `limits.timeoutSeconds` is 7 days: long, yet within PostgreSQL's statement_timeout range
 * (connectors derive statement timeouts from it).
 */
export class StreamingBudget extends Budget {
  private bytesSinceCheckpoint = 0;

  constructor() {
    const heapMb = Math.floor(getHeapStatistics().heap_size_limit / (1024 * 1024));
    super(limitsFromEnv({timeoutSeconds: 7 * 24 * 3600, ...(process.env.FUNCTION_MEMORY_MB ? {} : {memoryMb: heapMb})}));
  }

  override get streaming(): boolean {
    return true;
  }

  override addBytes(bytes: number): void {
    this.bytesSinceCheckpoint += bytes;
  }

  override get bytesUsed(): number {
    return this.bytesSinceCheckpoint;
  }

  /** Called by the adapter after each checkpoint it streams. */
  override checkpointed(): void {
    this.bytesSinceCheckpoint = 0;
  }

  override exhausted(): null {
    return null;
  }

  override timeLeftMs(): number {
    return STREAM_BATCH_WINDOW_MS;
  }

  override deadline(): number {
    return Date.now() + STREAM_BATCH_WINDOW_MS;
  }
}

/** The state to resume from: absent or empty `state_json` is a first sync. */
export function readState(request: UpdateRequest__Output): State {
  const text = request.state_json;
  if (text === undefined || text.trim() === '') return {};
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    throw new RequestError('state_json is not valid JSON; reset the connection\'s cursor or send the last checkpoint unchanged');
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new RequestError('state_json must be a JSON object (the state_json of a checkpoint this connector sent)');
  }
  return state as State;
}

interface TableState {
  spec: TableSpec;
  choice: TableChoice;
  columns: Map<string, boolean>;
  /** its upsertJson rows' reader (json-records.ts), made on the first */
  json?: JsonRecords;
  /** the layouts of its upsertRecords rows (record-rows.ts), by their columns */
  layouts?: Map<string, RecordLayout>;
}

/**
 * Buffers for RecordRows, used again once the Records written in them have been written out (at most a few
 * kept: about as many as the connector's batches in flight).
 */
class RecordBuffers {
  private readonly free: ArrayBuffer[] = [];

  /** A buffer of at least `bytes` (64 KiB at least), or undefined: RecordRows makes its own. */
  take(bytes: number): Buffer | undefined {
    const index = this.free.findIndex((buffer) => buffer.byteLength >= bytes);
    if (index < 0) return undefined;
    return Buffer.from(this.free.splice(index, 1)[0]!);
  }

  /** The memory of a chunk's `bytes`, which RecordRows allocated for itself (record-rows.ts: allocUnsafeSlow). */
  give(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 64 * 1024) return;
    this.free.push(buffer);
    if (this.free.length > 4) this.free.splice(this.free.indexOf(this.free.reduce((a, b) => (a.byteLength <= b.byteLength ? a : b))), 1);
  }
}

/** Whether two layouts write the same bytes: the same header, and each column of the same type and selection. */
function sameLayout(a: RecordLayout, b: RecordLayout): boolean {
  return a.header.equals(b.header) && a.columns.length === b.columns.length && a.columns.every((column, i) => {
    const other = b.columns[i]!;
    return column.name === other.name && JSON.stringify(column.type) === JSON.stringify(other.type) && (column.key === null) === (other.key === null);
  });
}

function count(target: Record<string, number>, table: string): void {
  target[table] = (target[table] ?? 0) + 1;
}

/** Runs one Update. User-fixable failures end in a `Task`; any other failure is thrown (the server turns it into a gRPC status). */
export async function runUpdate(connector: Connector, request: UpdateRequest__Output, options: UpdateOptions): Promise<UpdateSummary> {
  const {log, signal, send} = options;
  const startedAt = Date.now();
  const batcher = new RecordBatcher(send, Math.min(options.maxBatchRecords ?? MAX_BATCH_RECORDS, MAX_BATCH_RECORDS), options.maxBatchBytes ?? MAX_BATCH_BYTES);
  const summary: UpdateSummary = {outcome: 'finished', upserts: {}, deletes: {}, checkpoints: 0, batches: 0, warnings: 0};
  const selection = request.selection ?? null;
  const registry = new TableRegistry(connector.name, connector.tables);
  const tables = new Map<string, TableState>();
  const announced = new Set<string>();

  // A table Fivetran has not been told about (not in the selection, or not listed by `Schema`) is announced
  // with a SchemaChange so its primary key and column types are known before its first records.
  const isNewToFivetran = (name: string, choice: TableChoice): boolean =>
    selection ? !choice.listed : !(name in connector.tables) && !connector.discover;

  const declare = async (name: string, spec: TableSpec): Promise<TableState> => {
    registry.declare(name, spec);
    const state: TableState = {spec, choice: chooseTable(selection, name, spec.primaryKey ?? []), columns: new Map()};
    tables.set(name, state);
    if (state.choice.included && !announced.has(name) && isNewToFivetran(name, state.choice)) {
      announced.add(name);
      await batcher.flush();
      const table = toTable(name, spec);
      await send({
        schema_change: state.choice.schemaName !== undefined
          ? {with_schema: {schemas: [{name: state.choice.schemaName, tables: [table]}]}}
          : {without_schema: {tables: [table]}},
      });
    }
    return state;
  };

  const tableOf = async (name: string): Promise<TableState> => {
    return tables.get(name) ?? declare(name, registry.specOf(name));
  };

  const includesColumn = (table: TableState, column: string): boolean => {
    let included = table.columns.get(column);
    if (included === undefined) {
      included = table.choice.includesColumn(column);
      table.columns.set(column, included);
    }
    return included;
  };

  // Each record is written as protobuf bytes straight from its values (record-encoder.ts); its size is exact.
  const encoder = batcher.encoder;
  const encodeRecord = (name: string, table: TableState, row: Row, type: 'UPSERT' | 'DELETE'): number => {
    encoder.begin(name, table.choice.schemaName, type);
    const types = table.spec.columns ?? {};
    for (const column in row) {
      if (!includesColumn(table, column)) continue;
      encoder.value(column, toValueType(row[column], types[column], column));
    }
    return encoder.length;
  };

  const jsonRecordsOf = (name: string, table: TableState): JsonRecords => {
    const types = table.spec.columns ?? {};
    return new JsonRecords(encoder, {
      name,
      schemaName: table.choice.schemaName,
      columnType: (column) => types[column],
      includesColumn: (column) => includesColumn(table, column),
    });
  };

  // ctx.records: the connector writes Record bytes itself (record-rows.ts) against the table's declaration
  // as it stands; a table not declared to the stream yet (its first records) gets a state of its own, which
  // the emit compares with the declaration it reaches
  const layoutOf = (name: string, columns: readonly string[]): RecordLayout => {
    let table = tables.get(name);
    if (!table) {
      const spec = registry.specOf(name);
      table = {spec, choice: chooseTable(selection, name, spec.primaryKey ?? []), columns: new Map()};
    }
    const id = columns.join('\u0000');
    let layout = table.layouts?.get(id);
    if (!layout) {
      const types = table.spec.columns ?? {};
      layout = {
        table: name,
        header: encoder.headerOf(name, table.choice.schemaName, 'UPSERT'),
        columns: columns.map((column) => ({name: column, type: types[column], key: includesColumn(table, column) ? encoder.keyOf(column) : null})),
        maxRecords: batcher.maxRecords,
        maxBytes: batcher.maxBytes,
        declaration: table,
      };
      (table.layouts ??= new Map()).set(id, layout);
    }
    return layout;
  };
  // the buffers of the Records sent (and written out by the transport) are used again for the next rows:
  // each new buffer of a batch's rows was a third of the external memory that set off the garbage collector
  const buffers = new RecordBuffers();
  const records: RecordsOutput = {rows: (name, columns, expectedBytes = 0) => new RecordRows(layoutOf(name, columns), expectedBytes, buffers.take(expectedBytes))};

  let budget: StreamingBudget | undefined;
  const upsertRow = async (name: string, table: TableState, row: Row): Promise<void> => {
    budget?.addBytes(encodeRecord(name, table, row, 'UPSERT'));
    const sending = batcher.add();
    if (sending) await sending;
    count(summary.upserts, name);
  };

  let iterator: AsyncIterator<unknown> | undefined;
  let exhausted = false;
  try {
    const {secrets, unknownKeys} = parseSecrets(connector.secrets, request.configuration);
    if (unknownKeys.length) log.warn(`ignoring unknown configuration keys: ${unknownKeys.join(', ')}`);
    const sent = readState(request);
    log.info('update started', {resuming: Object.keys(sent).length > 0});
    const state = parseState(connector.name, connector.state, sent);
    budget = new StreamingBudget();
    // The Partner SDK has no sync id; each Update is one sync, so it gets its own.
    const sync = connector.sync({secrets: secrets as never, state: state as never, budget, log, syncId: randomUUID(), signal, ...(options.records === false ? {} : {records})});
    const items = sync[Symbol.asyncIterator]();
    iterator = items;
    for (;;) {
      if (signal.aborted) {
        summary.outcome = 'cancelled';
        break;
      }
      const next = await items.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      const item = next.value;
      switch (item.kind) {
        case 'table':
          await declare(item.table, item.spec);
          break;
        case 'upsert': {
          const table = await tableOf(item.table);
          if (table.choice.included) await upsertRow(item.table, table, item.row);
          break;
        }
        case 'upsertJson': {
          const table = await tableOf(item.table);
          if (!table.choice.included || item.count === 0) break;
          // each row written as its Record straight from its JSON bytes where it can be (json-records.ts)
          const rows = (table.json ??= jsonRecordsOf(item.table, table));
          rows.reset(item.json);
          let written = 0;
          try {
            for (let row = rows.next(); row !== null; row = rows.next()) {
              if (row === true) {
                budget.addBytes(encoder.length);
                written++;
                const sending = batcher.add();
                if (sending) await sending;
              } else {
                await upsertRow(item.table, table, row);
              }
            }
          } finally {
            summary.upserts[item.table] = (summary.upserts[item.table] ?? 0) + written;
          }
          break;
        }
        case 'upsertRecords': {
          const table = await tableOf(item.table);
          const {layout, count} = item.records;
          if (!table.choice.included || count === 0) break;
          if (layout.declaration !== table && !sameLayout(layout, layoutOf(item.table, layout.columns.map((c) => c.name)))) {
            throw new ProtocolError(`${connector.name} wrote rows of "${item.table}" for a declaration of it that has changed since; write them after declareTable()`);
          }
          // the Records as they are, in the batches the writer cut by the batcher's rule (record-encoder.ts)
          await batcher.addChunk(item.records, () => buffers.give(item.records.bytes.buffer));
          budget.addBytes(item.records.recordBytes);
          summary.upserts[item.table] = (summary.upserts[item.table] ?? 0) + count;
          break;
        }
        case 'delete': {
          const table = await tableOf(item.table);
          const keys = registry.deleteKeys(item.table, item.keys);
          if (!table.choice.included) break;
          budget.addBytes(encodeRecord(item.table, table, keys, 'DELETE'));
          const sending = batcher.add();
          if (sending) await sending;
          count(summary.deletes, item.table);
          break;
        }
        case 'checkpoint':
          await batcher.flush();
          await send({checkpoint: {state_json: JSON.stringify(item.state)}});
          budget.checkpointed();
          summary.checkpoints++;
          break;
        case 'warning': {
          const message = log.redact(oneLine(item.message));
          log.warn(message);
          await send({warning: {message}});
          summary.warnings++;
          break;
        }
      }
    }
    await batcher.flush();
  } catch (error) {
    if (!needsUserAction(error)) {
      // Records already read are valid source data; send them before failing so the retry has less to redo.
      await batcher.flush().catch(() => undefined);
      throw error;
    }
    await batcher.flush();
    const message = log.redact(toErrorResponse(error, connector.name).body.errorMessage);
    log.warn(`sync needs attention: ${message}`, {errorType: (error as {errorType?: string}).errorType});
    await send({task: {message}});
    summary.outcome = 'task';
  } finally {
    // Stopped early (task, failure, cancelled): let the generator run its `finally` (close clients).
    if (!exhausted) await iterator?.return?.(undefined).catch(() => undefined);
  }
  summary.batches = batcher.batches;
  log.info('update finished', {
    outcome: summary.outcome,
    upserts: summary.upserts,
    deletes: summary.deletes,
    checkpoints: summary.checkpoints,
    batches: summary.batches,
    duration_ms: Date.now() - startedAt,
  });
  return summary;
}
