// COPY ... TO STDOUT through node-postgres, for reading a batch of rows at the rate PostgreSQL sends them.
// pg's own Query turns every row into a DataRow message, decodes each field into a JS string and keeps the
// row as an array. A COPY sends each row as one CopyData message; while it runs, `CopyOut` reads the
// connection's bytes itself and hands each row to a callback as a range of the received chunk: no message
// object, event, slice or string per row (pg's parser spends about 0.7 µs per row on those, as much as
// writing the row's JSON). Every other message (CopyDone, CommandComplete, ReadyForQuery, an ErrorResponse, a
// notice) goes back to pg's parser with the bytes after it, and pg carries on as if it had read them all.
// Errors PostgreSQL reports during the COPY (a statement timeout, a cast that fails) reject `done` with pg's
// DatabaseError, and a lost connection rejects it with pg's "Connection terminated" error, which the caller
// may retry.
import type pg from 'pg';

type Connection = pg.Connection & {sendCopyFail(message: string): void; stream?: Stream};
type Stream = NodeJS.EventEmitter & {listeners(event: 'data'): ((chunk: Buffer) => void)[]};

/** A row: bytes [start, end) of `data`, valid only during the call. */
export type RowHandler = (data: Buffer, start: number, end: number) => void;

const COPY_DATA = 0x64; // 'd'
const COPY_OUT_RESPONSE = 0x48; // 'H'
const HEADER_BYTES = 5; // a message's code and 32-bit length

/**
 * A pg Submittable running one `COPY (...) TO STDOUT` over the simple query protocol (COPY takes no bind
 * parameters: the statement must carry its values as literals). `onRow` gets each CopyData payload, which
 * PostgreSQL guarantees is exactly one row (its line terminator included), as a range of a buffer that is
 * only valid during the call. `done` resolves with the row count when the server is ready for the next query.
 */
export class CopyOut implements pg.Submittable {
  private resolve!: (rows: number) => void;
  private reject!: (error: Error) => void;
  private settled = false;
  private error: Error | null = null;
  private rows = 0;
  /** the start of a CopyData (or CopyOutResponse) message the last chunk cut short */
  private pending: Buffer | null = null;
  /** gives the connection's data events back to pg's parser, if this COPY still holds them */
  private release: (() => void) | null = null;
  readonly done: Promise<number>;

  constructor(
    private readonly text: string,
    private readonly onRow: RowHandler,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    connection.query(this.text);
    const stream = (connection as Connection).stream;
    // pg's parser is idle between queries: its data listeners step aside until a message other than a row comes
    if (stream && typeof stream.listeners === 'function') this.readRows(stream);
  }

  /** Reads the COPY's rows from the connection's chunks until another message, which goes back to pg's parser. */
  private readRows(stream: Stream): void {
    const parsers = stream.listeners('data');
    stream.removeAllListeners('data');
    const handBack = (rest: Buffer) => {
      this.release = null;
      stream.removeListener('data', onData);
      for (const parser of parsers) stream.on('data', parser);
      if (rest.length) for (const parser of parsers) parser.call(stream, rest);
    };
    this.release = () => handBack(Buffer.alloc(0));
    const onData = (chunk: Buffer) => {
      let offset = 0;
      if (this.pending) {
        // complete the message the last chunk cut short: its header first, then its body
        let pending = this.pending;
        this.pending = null;
        if (pending.length < HEADER_BYTES) {
          offset = Math.min(HEADER_BYTES - pending.length, chunk.length);
          pending = Buffer.concat([pending, chunk.subarray(0, offset)]);
          if (pending.length < HEADER_BYTES) {
            this.pending = pending;
            return;
          }
        }
        const total = 1 + pending.readUInt32BE(1);
        const take = Math.min(total - pending.length, chunk.length - offset);
        pending = Buffer.concat([pending, chunk.subarray(offset, offset + take)]);
        offset += take;
        if (pending.length < total) {
          this.pending = pending;
          return;
        }
        if (pending[0] === COPY_DATA) this.row(pending, HEADER_BYTES, total);
      }
      while (offset < chunk.length) {
        const code = chunk[offset];
        if (code !== COPY_DATA && code !== COPY_OUT_RESPONSE) {
          handBack(chunk.subarray(offset));
          return;
        }
        if (offset + HEADER_BYTES > chunk.length) break;
        const end = offset + 1 + chunk.readUInt32BE(offset + 1);
        if (end > chunk.length) break;
        if (code === COPY_DATA) this.row(chunk, offset + HEADER_BYTES, end);
        offset = end;
      }
      // a socket's chunks are not reused, so the cut message can wait in place
      if (offset < chunk.length) this.pending = chunk.subarray(offset);
    };
    stream.on('data', onData);
  }

  private row(data: Buffer, start: number, end: number): void {
    if (this.error) return;
    try {
      this.onRow(data, start, end);
      this.rows++;
    } catch (error) {
      // a failing consumer: keep reading to the end of the COPY (the protocol has no way to stop a COPY TO
      // short of cancelling) and report the consumer's error then
      this.error = error instanceof Error ? error : new Error(String(error));
    }
  }

  /** A row pg's parser read (after a notice handed the connection back to it mid-COPY). */
  handleCopyData(message: {chunk: Buffer}): void {
    this.row(message.chunk, 0, message.chunk.length);
  }

  handleCommandComplete(): void {}
  handleEmptyQuery(): void {
    this.error ??= new Error('COPY statement was empty');
  }
  handleRowDescription(): void {
    this.error ??= new Error('CopyOut ran a statement that returns rows, not a COPY ... TO STDOUT');
  }
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleParseComplete(): void {}

  handleCopyInResponse(connection: Connection): void {
    // a COPY FROM STDIN by mistake: end it rather than leave the connection waiting for data
    this.error ??= new Error('CopyOut ran COPY FROM STDIN; it only reads (COPY ... TO STDOUT)');
    connection.sendCopyFail('CopyOut only reads');
  }

  /** An ErrorResponse from the server (followed by ReadyForQuery), or the connection's end (not followed). */
  handleError(error: Error): void {
    // a misuse found here says more than the server's answer to it (e.g. to the CopyFail sent above)
    this.settle(this.error ?? error);
  }

  handleReadyForQuery(): void {
    this.settle(this.error);
  }

  private settle(error: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    // ended without the messages that hand the connection back (it was lost): pg's parser gets it back anyway
    this.release?.();
    if (error) this.reject(error);
    else this.resolve(this.rows);
  }
}

/** Runs a COPY ... TO STDOUT on the client, handing each row's bytes to `onRow`; resolves with the row count. */
export function copyOut(client: pg.Client, text: string, onRow: RowHandler): Promise<number> {
  const copy = new CopyOut(text, onRow);
  void client.query(copy);
  return copy.done;
}
