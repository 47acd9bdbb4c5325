// The body of one Function response, built as `sync` yields: rows per table (serialized as they come),
// the tables' schema, and the committed state. A checkpoint commits what came before it; what comes after
// the last checkpoint of a stopped call is dropped. Past `streamAfterBytes` of committed rows the body goes
// to a ResponseStream as each checkpoint commits, the state last. The call loop (function-adapter.ts)
// decides when to stop; this module only builds.
import {ENVELOPE_PUNCTUATION_BYTES, type Budget} from './budget.js';
import type {TableRegistry} from './table-registry.js';
import type {Row, State, TableSpec} from './types.js';

/**
 * Where a streamed response goes (the HTTP response of a deployed function). Once a call has committed
 * `streamAfterBytes` of rows, it answers 200 and writes each checkpoint's rows as the checkpoint commits,
 * rather than holding the whole response and copying it twice at the end; the state comes last.
 */
export interface ResponseStream {
  /** the call answers 200 with a JSON body written in parts from now on; called once, before the first write */
  start(): void;
  /** writes parts in order; false when the caller is behind and `drained` should be awaited */
  write(parts: readonly Chunk[]): boolean;
  drained(): Promise<void>;
  /** writes the last parts and ends the response */
  end(parts: readonly Chunk[]): void;
}

/** JSON for one row: bigint as a string, bytes as base64, dates as ISO-8601. */
export function serializeRow(row: Row): string {
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'bigint' || value instanceof Uint8Array) return JSON.stringify(row, jsonReplacer);
  }
  return JSON.stringify(row);
}

function jsonReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  if (original instanceof Uint8Array) return Buffer.from(original).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A part of the response body: JSON text, or its UTF-8 bytes as a source produced them. */
export type Chunk = string | Buffer;

interface TableBuffer {
  chunks: Chunk[];
  committedChunks: number;
  rows: number;
  committedRows: number;
}

const chunkText = (chunk: Chunk): string => (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));

/**
 * Serialized rows per table; `commit` marks what a checkpoint covers, `dropPending` discards the rest. A
 * streamed response takes a table's committed chunks away as it writes them (`takeCommitted`); the row
 * counts stay whole.
 */
class RowBuffers {
  readonly inserts = new Map<string, TableBuffer>();
  readonly deletes = new Map<string, TableBuffer>();
  bytes = 0;
  committedBytes = 0;

  add(target: Map<string, TableBuffer>, table: string, json: Chunk, count: number): void {
    let buffer = target.get(table);
    if (!buffer) {
      buffer = {chunks: [], committedChunks: 0, rows: 0, committedRows: 0};
      target.set(table, buffer);
    }
    buffer.chunks.push(json);
    buffer.rows += count;
    this.bytes += json.length + 1;
  }

  commit(): void {
    for (const buffer of [...this.inserts.values(), ...this.deletes.values()]) {
      buffer.committedChunks = buffer.chunks.length;
      buffer.committedRows = buffer.rows;
    }
    this.committedBytes = this.bytes;
  }

  dropPending(): void {
    for (const buffer of [...this.inserts.values(), ...this.deletes.values()]) {
      buffer.chunks.length = buffer.committedChunks;
      buffer.rows = buffer.committedRows;
    }
    this.bytes = this.committedBytes;
  }

  committedRowCount(): number {
    let total = 0;
    for (const buffer of [...this.inserts.values(), ...this.deletes.values()]) total += buffer.committedRows;
    return total;
  }

  /** The insert table holding the most committed bytes not yet taken, or null. */
  largestCommittedInsert(): string | null {
    let best: string | null = null;
    let bestBytes = 0;
    for (const [table, buffer] of this.inserts) {
      let bytes = 0;
      for (let i = 0; i < buffer.committedChunks; i++) bytes += buffer.chunks[i]!.length;
      if (bytes > bestBytes) [best, bestBytes] = [table, bytes];
    }
    return best;
  }

  /** Removes and returns a table's committed chunks (for a streamed response, which writes them now). */
  takeCommitted(table: string): Chunk[] {
    const buffer = this.inserts.get(table);
    if (!buffer || buffer.committedChunks === 0) return [];
    const taken = buffer.chunks.splice(0, buffer.committedChunks);
    buffer.committedChunks = 0;
    return taken;
  }

  /** `"table":[rows],...` of every table with rows, except `skip` */
  static entries(target: Map<string, TableBuffer>, skip?: string): string {
    const parts: string[] = [];
    for (const [table, buffer] of target) {
      if (buffer.rows === 0 || table === skip) continue;
      parts.push(`${JSON.stringify(table)}:[${buffer.chunks.map(chunkText).join(',')}]`);
    }
    return parts.join(',');
  }

  static counts(target: Map<string, TableBuffer>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [table, buffer] of target) if (buffer.rows > 0) out[table] = buffer.rows;
    return out;
  }
}

/** What a finished response holds. */
export interface BuiltResponse {
  /** the serialized JSON body ('' when it was streamed) */
  body: string;
  bytes: number;
  streamed: boolean;
  rows: Record<string, number>;
  deletes: Record<string, number>;
}

export class ResponseBuilder {
  private readonly rows = new RowBuffers();
  private readonly inputStateJson: string;
  private committedStateJson: string;
  private schemaBytes: number;
  /** the insert table whose rows are being written as they commit (the others are written at the end) */
  private streamedTable: string | null = null;
  private streamedAny = false;
  private writtenBytes = 0;

  constructor(
    private readonly tables: TableRegistry,
    state: State,
    private readonly budget: Budget,
    private readonly stream: ResponseStream | undefined,
    private readonly streamAfter: number,
  ) {
    this.inputStateJson = JSON.stringify(state);
    this.committedStateJson = this.inputStateJson;
    this.schemaBytes = this.sentSchemaBytes();
    this.budget.setEnvelope(this.committedStateJson.length, this.schemaBytes);
  }

  // The envelope around the rows: state, schema and punctuation, counted against the cap with the rows
  // (the budget holds it). The schema as it is sent (primary keys only), not the specs with their columns.
  private sentSchemaBytes(): number {
    return JSON.stringify(this.tables.schema()).length;
  }

  /** Committed rows, or a committed state other than the one the call started from. */
  get progress(): boolean {
    return this.rows.committedRowCount() > 0 || this.committedStateJson !== this.inputStateJson;
  }

  /** The response has begun (status 200 is sent): it can only be ended. */
  get streaming(): boolean {
    return this.streamedTable !== null;
  }

  /** The rows held and the envelope are over the response cap. */
  overCap(): boolean {
    return this.rows.bytes + this.budget.envelopeBytes() > this.budget.limits.responseCapBytes;
  }

  declare(table: string, spec: TableSpec): void {
    this.tables.declare(table, spec);
    this.schemaBytes = this.sentSchemaBytes();
    this.budget.setEnvelope(this.committedStateJson.length, this.schemaBytes);
  }

  upsert(table: string, row: Row): void {
    this.tables.specOf(table);
    const json = serializeRow(row);
    this.rows.add(this.rows.inserts, table, json, 1);
    this.budget.addBytes(json.length + 1);
  }

  upsertJson(table: string, json: Chunk, count: number): void {
    this.tables.specOf(table);
    if (count > 0) {
      this.rows.add(this.rows.inserts, table, json, count);
      this.budget.addBytes(json.length + 1);
    }
  }

  delete(table: string, keys: Row): void {
    const json = serializeRow(this.tables.deleteKeys(table, keys));
    this.rows.add(this.rows.deletes, table, json, 1);
    this.budget.addBytes(json.length + 1);
  }

  /**
   * Commits the rows so far with `state`, and streams them once the response is large. A state grown since the
   * last checkpoint (a connector's memory of what it read) can push rows that fitted past the cap; such a
   * checkpoint is refused (false) once there is progress, and the call ends at the last one.
   */
  async checkpoint(state: object): Promise<boolean> {
    const stateJson = JSON.stringify(state);
    if (this.progress && this.rows.bytes + ENVELOPE_PUNCTUATION_BYTES + this.schemaBytes + stateJson.length > this.budget.limits.responseCapBytes) return false;
    this.rows.commit();
    this.committedStateJson = stateJson;
    this.budget.setEnvelope(this.committedStateJson.length, this.schemaBytes);
    this.budget.checkpointed();
    await this.streamCommitted();
    return true;
  }

  dropPending(): void {
    this.rows.dropPending();
  }

  /** Rows of the streamed table, each chunk after a comma but the first. */
  private rowParts(chunks: readonly Chunk[], parts: Chunk[]): void {
    for (const chunk of chunks) {
      if (this.streamedAny) {
        parts.push(',');
        this.writtenBytes++;
      }
      parts.push(chunk);
      this.writtenBytes += chunk.length;
      this.streamedAny = true;
    }
  }

  /**
   * At a checkpoint: once the committed rows are large enough, start the streamed response with the table
   * holding the most of them, and write that table's committed rows. Only one table is streamed per call
   * (a JSON object cannot name a table twice); the others wait for the end. Waits while the caller is behind.
   */
  private async streamCommitted(): Promise<void> {
    const stream = this.stream;
    if (!stream) return;
    const parts: Chunk[] = [];
    if (this.streamedTable === null) {
      if (this.rows.committedBytes < this.streamAfter) return;
      this.streamedTable = this.rows.largestCommittedInsert();
      if (this.streamedTable === null) return;
      stream.start();
      const head = `{"insert":{${JSON.stringify(this.streamedTable)}:[`;
      parts.push(head);
      this.writtenBytes += head.length;
    }
    this.rowParts(this.rows.takeCommitted(this.streamedTable), parts);
    if (parts.length && !stream.write(parts)) await stream.drained();
  }

  /** Ends the response: a stopped call (`hasMore`) answers only what is committed. */
  finish(hasMore: boolean): BuiltResponse {
    const rows = this.rows;
    if (hasMore) rows.dropPending();
    const softDelete = [...rows.deletes.keys()].filter((table) => this.tables.get(table)?.softDelete && (rows.deletes.get(table)?.rows ?? 0) > 0);
    // the state comes last: a streamed response has written its rows before the state is final
    const tail =
      `,"delete":{${RowBuffers.entries(rows.deletes)}},"schema":${JSON.stringify(this.tables.schema())}` +
      `,"state":${this.committedStateJson},"hasMore":${hasMore}${softDelete.length ? `,"softDelete":${JSON.stringify(softDelete)}` : ''}}`;
    let body = '';
    let bytes: number;
    const streamed = this.streamedTable;
    if (streamed !== null) {
      const parts: Chunk[] = [];
      this.rowParts(rows.inserts.get(streamed)!.chunks, parts);
      const others = RowBuffers.entries(rows.inserts, streamed);
      const end = `]${others ? `,${others}` : ''}}${tail}`;
      parts.push(end);
      bytes = this.writtenBytes + end.length;
      this.stream!.end(parts);
    } else {
      body = `{"insert":{${RowBuffers.entries(rows.inserts)}}${tail}`;
      bytes = body.length;
    }
    return {body, bytes, streamed: streamed !== null, rows: RowBuffers.counts(rows.inserts), deletes: RowBuffers.counts(rows.deletes)};
  }
}
