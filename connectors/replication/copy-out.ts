// COPY ... TO STDOUT through node-postgres, for reading a batch of rows whose JSON text PostgreSQL builds.
// pg's own Query turns every row into a DataRow message, decodes each field into a JS string and keeps the
// row as an array; a COPY sends each row as one CopyData message that is handed here as a byte slice, and
// `CopyOut` passes the slices to a callback without making a string or object per row. Errors PostgreSQL
// reports during the COPY (a statement timeout, a cast that fails) reject `done` with pg's DatabaseError,
// and a lost connection rejects it with pg's "Connection terminated" error, which the caller may retry.
import type pg from 'pg';

type Connection = pg.Connection & {sendCopyFail(message: string): void};

/**
 * A pg Submittable running one `COPY (...) TO STDOUT` over the simple query protocol (COPY takes no bind
 * parameters: the statement must carry its values as literals). `onRow` gets each CopyData payload, which
 * PostgreSQL guarantees is exactly one row (its line terminator included); the slice is only valid during the
 * call. `done` resolves with the row count when the server is ready for the next query.
 */
export class CopyOut implements pg.Submittable {
  private resolve!: (rows: number) => void;
  private reject!: (error: Error) => void;
  private settled = false;
  private error: Error | null = null;
  private rows = 0;
  readonly done: Promise<number>;

  constructor(
    private readonly text: string,
    private readonly onRow: (row: Buffer) => void,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  handleCopyData(message: {chunk: Buffer}): void {
    if (this.error) return;
    try {
      this.onRow(message.chunk);
      this.rows++;
    } catch (error) {
      // a failing consumer: keep reading to the end of the COPY (the protocol has no way to stop a COPY TO
      // short of cancelling) and report the consumer's error then
      this.error = error instanceof Error ? error : new Error(String(error));
    }
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
    if (error) this.reject(error);
    else this.resolve(this.rows);
  }
}

/** Runs a COPY ... TO STDOUT on the client, handing each row's bytes to `onRow`; resolves with the row count. */
export function copyOut(client: pg.Client, text: string, onRow: (row: Buffer) => void): Promise<number> {
  const copy = new CopyOut(text, onRow);
  void client.query(copy);
  return copy.done;
}
