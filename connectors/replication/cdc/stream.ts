// Reading the slot over PostgreSQL's streaming replication protocol, for a Partner SDK Update: one decoding
// session that goes forward from the slot's confirmed position, so each change is decoded and held once.
//
// A Function call peeks (slot.ts), and each peek decodes from the slot's confirmed position again: fine when
// every call starts by advancing the slot to what Fivetran committed. A Partner SDK Update is one long stream
// whose checkpoints Fivetran commits without saying when, so the slot may only move when the next Update
// starts: peeked, a backlog of N changes is decoded again at every peek (quadratic) and the last peek holds
// all of it in memory. Over a replication connection (START_REPLICATION) the server decodes once and sends
// each transaction as it commits; the socket is paused while the connector is behind, so what is held stays
// bounded. The slot is never confirmed from here (standby status updates report no flush position): as with
// peeks, it moves only when an Update starts with the state of a committed checkpoint (advanceSlot).
//
// The stream ends once the server has sent everything up to the WAL position read at its start (`until`,
// streamEnd): the server's keepalives carry the position it has decoded up to, and one is asked for whenever
// the stream has nothing queued.
import type pg from 'pg';
import {SourceError} from '../../../sdk/index.js';
import {connect, quoteIdent, type PostgresConfig} from '../../../sdk/postgres.js';
import {decodeMessage, formatLsn, parseLsn, POSTGRES_EPOCH_MICROS} from './pgoutput.js';
import {TransactionAssembler, type CdcNames, type Transaction} from './slot.js';

/**
 * A status update at least this often, and at least three times per wal_sender_timeout (60 s by default),
 * after which the server ends a connection it has not heard from: while the socket is paused, the server's
 * requests for a reply wait unread.
 */
const STATUS_INTERVAL_MS = 10_000;
/** with nothing queued, a keepalive (the server's position) is asked for at most this often */
const POSITION_POLL_MS = 100;
/**
 * How far below `until` the server's position may stop: when the last record ends at a WAL page's end, the
 * position read at the start points past the next page's header (24 bytes), which no record fills; no commit
 * record (34 bytes at least) fits in that gap, so none committed before `until` can be missed.
 */
const PAGE_HEADER_BYTES = 24n;
/** changes queued past which the socket is paused, and below which it reads again */
const PAUSE_CHANGES = 10_000;
const RESUME_CHANGES = 2_000;

interface ReplicationConnection {
  stream: NodeJS.ReadableStream & NodeJS.WritableStream & {destroy(): void};
  on(event: 'copyData', listener: (message: {chunk: Buffer}) => void): void;
  once(event: 'replicationStart', listener: () => void): void;
  removeListener(event: 'copyData', listener: (message: {chunk: Buffer}) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
}

export class SlotStream {
  private readonly queue: Transaction[] = [];
  private head = 0;
  private queuedChanges = 0;
  private paused = false;
  /** the end of the WAL the server has decoded and sent (its last keepalive) */
  private sentUpTo = 0n;
  /** the last position received, reported as written in status updates */
  private received = 0n;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | undefined;
  private lastPositionAsk = 0;
  private closed = false;
  private onCopyData: ((message: {chunk: Buffer}) => void) | undefined;

  private constructor(
    private readonly client: pg.Client,
    private readonly names: CdcNames,
  ) {}

  private get connection(): ReplicationConnection {
    return (this.client as unknown as {connection: ReplicationConnection}).connection;
  }

  /**
   * Opens a replication connection with `config` (SourceSession.replicationConfig) and starts streaming the
   * slot from `from` (the slot's confirmed position). Fails when the connection is refused (a pooler such as
   * PgBouncer passes none) or the slot; the caller may read the slot by peeks instead.
   */
  static async open(config: PostgresConfig, names: CdcNames, from: string): Promise<SlotStream> {
    const client = await connect(config);
    const stream = new SlotStream(client, names);
    try {
      await stream.start(from);
    } catch (error) {
      await stream.close();
      throw error;
    }
    return stream;
  }

  private async start(from: string): Promise<void> {
    const {rows} = await this.client.query<{ms: string}>(`SELECT setting AS ms FROM pg_settings WHERE name = 'wal_sender_timeout'`).catch(() => ({rows: []}));
    const timeoutMs = Number(rows[0]?.ms);
    const every = timeoutMs > 0 ? Math.max(1_000, Math.min(STATUS_INTERVAL_MS, timeoutMs / 3)) : STATUS_INTERVAL_MS;
    this.timer = setInterval(() => this.sendStatus(false), every);
    this.timer.unref();
    const assembler = new TransactionAssembler(this.names.slot);
    const connection = this.connection;
    this.onCopyData = ({chunk}) => {
      if (this.closed || this.failure) return;
      try {
        if (chunk[0] === 0x77) {
          // XLogData: 'w', the message's start, the server's WAL end, its clock, then one pgoutput message
          const at = chunk.readBigUInt64BE(1);
          if (at > this.received) this.received = at;
          // a copy: pg reuses the buffer the chunk is a view of, and tuple values keep their place in the message
          const transaction = assembler.add(decodeMessage(Buffer.from(chunk.subarray(25))));
          if (transaction) {
            this.queue.push(transaction);
            this.queuedChanges += transaction.changes.length;
            if (!this.paused && this.queuedChanges > PAUSE_CHANGES) {
              this.paused = true;
              connection.stream.pause();
            }
          }
        } else if (chunk[0] === 0x6b) {
          // primary keepalive: 'k', the server's position, its clock, whether it asks for a reply now
          const position = chunk.readBigUInt64BE(1);
          if (position > this.sentUpTo) this.sentUpTo = position;
          if (chunk[17] === 1) this.sendStatus(false);
        }
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
      this.notify();
    };
    connection.on('copyData', this.onCopyData);
    const started = new Promise<void>((resolve) => connection.once('replicationStart', resolve));
    const options = `proto_version '1', publication_names '${quoteIdent(this.names.publication).replaceAll("'", "''")}'`;
    // The query settles only when the stream ends: its error (the slot, the connection) fails the stream. The
    // position goes in as an LSN's own text, whatever the state held (parseLsn refuses anything else).
    const query = this.client.query(`START_REPLICATION SLOT ${quoteIdent(this.names.slot)} LOGICAL ${formatLsn(parseLsn(from))} (${options})`);
    const ended = query.then(
      () => this.fail(new Error('the server ended the replication stream')),
      (error: Error) => this.fail(error),
    );
    this.client.on('error', (error) => this.fail(error));
    this.client.on('end', () => this.fail(new Error('the replication connection was closed')));
    await Promise.race([started, ended]);
    if (this.failure) throw this.failure;
  }

  private fail(error: Error): void {
    if (this.closed || this.failure) return;
    this.failure = new SourceError(`reading the replication slot ${this.names.slot} over a replication connection: ${error.message}`, {cause: error, retriable: true});
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** A standby status update: what was received, no flush position (the slot must not move), and whether to answer now. */
  private sendStatus(replyNow: boolean): void {
    if (this.closed) return;
    const message = Buffer.alloc(34);
    message[0] = 0x72; // 'r'
    message.writeBigUInt64BE(this.received, 1); // written
    message.writeBigUInt64BE(0n, 9); // flushed: none, so the slot keeps its confirmed position
    message.writeBigUInt64BE(0n, 17); // applied
    message.writeBigUInt64BE(BigInt(Date.now()) * 1000n - POSTGRES_EPOCH_MICROS, 25);
    message[33] = replyNow ? 1 : 0;
    try {
      this.connection.sendCopyFromChunk(message);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * The slot's transactions in commit order, from the stream's start until the server has sent everything up
   * to `until` (a WAL position read before; transactions committed after it may come too).
   */
  async *transactions(until: bigint): AsyncGenerator<Transaction> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.head < this.queue.length) {
        const transaction = this.queue[this.head]!;
        this.queue[this.head++] = undefined as never;
        if (this.head === this.queue.length) {
          this.queue.length = 0;
          this.head = 0;
        }
        this.queuedChanges -= transaction.changes.length;
        if (this.paused && this.queuedChanges < RESUME_CHANGES) {
          this.paused = false;
          this.connection.stream.resume();
        }
        yield transaction;
        continue;
      }
      if (this.sentUpTo + PAGE_HEADER_BYTES >= until) return;
      const now = performance.now();
      if (now - this.lastPositionAsk >= POSITION_POLL_MS) {
        this.lastPositionAsk = now;
        this.sendStatus(true);
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, POSITION_POLL_MS).unref();
      });
    }
  }

  /** Ends the stream and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const connection = this.connection;
    if (this.onCopyData) connection.removeListener('copyData', this.onCopyData);
    if (this.paused) connection.stream.resume();
    // Terminate ('X'), which a walsender takes in the middle of a stream; the socket goes if that hangs
    const ended = this.client.end().catch(() => undefined);
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref());
    await Promise.race([ended, timeout]);
    connection.stream.destroy();
  }
}

/** Where a stream started now ends: the WAL flushed so far (a standby: replayed), which the server decodes up to. */
export async function streamEnd(client: pg.ClientBase): Promise<bigint> {
  const {rows} = await client.query<{lsn: string}>('SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_flush_lsn() END)::text AS lsn');
  return parseLsn(rows[0]!.lsn);
}
