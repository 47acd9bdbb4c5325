// One call of a sync: discover, plan, then walk the pass's tables from the saved position, one batch at a
// time. Each batch is one upsertJson (its rows' JSON, joined; behind the Partner SDK an upsertRecords of
// their Record bytes, read.ts) followed by a checkpoint of the new
// position, so the Function adapter can end the call at any batch and the next call resumes exactly there.
// The call's replication_runs row is emitted before the checkpoint at which the call will stop.
import {createHash} from 'node:crypto';
import type pg from 'pg';
import {checkpoint, ConfigError, declareTable, remove, RequestError, RESET_STATE, upsert, upsertJson, upsertRecords, warning, type Emit, type SyncContext, type TableSpec} from '../../sdk/index.js';
import {decideBatch, estimateBytesPerRow, MEMORY_COST_FACTOR, type BatchDecision} from './batching.js';
import {candidateNames, discover} from './discovery.js';
import {columnRows, COLUMNS_TABLE, tableRow, TABLES_TABLE} from './metadata.js';
import {planReplication, type TablePlan} from './plan.js';
import {keyRanges, loadStart, measureWidth, readByCursor, readByKey, readLateCommits, readPages, snapshotHorizon, tablePages, type Batch} from './read.js';
import {RunRecorder, RUNS_SPEC, RUNS_TABLE} from './runs.js';
import {cdcNames, postgresConfig, type ReplicationSecrets} from './secrets.js';
import {ChangeMapper} from './cdc/changes.js';
import {parseLsn} from './cdc/pgoutput.js';
import {advanceSlot, cdcProblems, ensurePublication, ensureSlot, firstPeek, nextPeek, peekChanges, slotLagBytes, type Transaction} from './cdc/slot.js';
import {SlotStream, streamEnd} from './cdc/stream.js';
import {SourceSession} from './client.js';
import {initialTableState, tableState, type ReplicationState, type TableState} from './state.js';
import {interleave} from './streams.js';

/**
 * Per slot, the response bytes a peeked message took in the last call on this instance: what the next call's
 * first peek is sized by (firstPeek). Only a hint: a new instance starts without it.
 */
const bytesPerPeekedMessage = new Map<string, number>();

/** Rows' JSON bytes, comma-separated, in one buffer (upsertJson's `json`). */
function joinRows(rows: readonly Buffer[]): Buffer {
  let length = rows.length - 1;
  for (const row of rows) length += row.length;
  const out = Buffer.allocUnsafe(Math.max(0, length));
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    if (i > 0) out[at++] = 0x2c;
    at += rows[i]!.copy(out, at);
  }
  return out;
}

/** The tables change data capture reads, as the readiness checks and the publication take them. */
export function cdcTables(plans: readonly TablePlan[]): {schema: string; table: string; hasKey: boolean}[] {
  return plans.map((plan) => ({schema: plan.source.schema, table: plan.source.name, hasKey: plan.primaryKey.length > 0}));
}

/** A replicated table's spec as the sync declares it: with `soft_delete`, its deletes are Fivetran soft deletes. */
export function replicatedSpec(plan: TablePlan, secrets: ReplicationSecrets): TableSpec {
  return secrets.soft_delete ? {...plan.spec, softDelete: true} : plan.spec;
}

/** The readiness checks of change data capture, as one error naming every missing setting. */
export async function checkCdc(client: pg.ClientBase, plans: readonly TablePlan[]): Promise<void> {
  const problems = await cdcProblems(client, cdcTables(plans));
  if (problems.length) throw new ConfigError(`update_method cdc cannot run: ${problems.join('; ')}`);
}

/** Chained batches per response: the response streams each while the next is read. */
const PIPELINE_BATCHES = 4;

/** A batch requested before it is needed (see sizedBatch): where it starts, why that size, when it ran. */
interface Ahead {
  key: string;
  /** the call that requested it */
  callId: string;
  decision: BatchDecision;
  started: number;
  ended: number | null;
  batch: Promise<Batch>;
}

interface TableProgress {
  /**
   * What the table's reads depend on besides the position (the secrets, filters included, and the planned
   * columns and types): a batch requested by an earlier call is used only when this is the same.
   */
  readKey: string;
  bytesPerRow: number;
  msPerRow: number | null;
  rowsPerPage: number;
  probed: boolean;
  /** the next batch, already requested */
  ahead: Ahead | null;
}

/**
 * A checkpoint a stream of a threaded call asks for: `apply` puts what its rows so far moved into the call's
 * state, when the call emits them (a stream reads ahead of what the call has emitted).
 */
interface StreamMark {
  kind: 'mark';
  nextBytes: number;
  apply: (state: ReplicationState) => void;
  /** the stream's unit (a table, or a range of one) is done with this checkpoint */
  final: boolean;
  dest: string;
  /** the range of the table's load, or null for the whole table */
  part: number | null;
}

/** A batch's record in replication_runs, made when the call emits the batch (one read ahead and dropped is not in the call). */
interface StreamNote {
  kind: 'note';
  apply: () => void;
}

type StreamItem = Emit<ReplicationState> | StreamMark | StreamNote;

/** What a table's reads use: the connection, where the table's state lives, how to checkpoint. */
interface TableIo {
  session: SourceSession;
  save(dest: string, table: TableState): void;
  /** the checkpoint after a batch; `nextBytes` is the next batch's likely size */
  commit(nextBytes: number): Generator<StreamItem>;
  /** bytes the streams have read, or are reading, that the call has not emitted */
  pendingBytes(): number;
  /** counts a read's expected bytes as pending while it runs (other streams size their batches around it); returns the release */
  reserve(bytes: number): () => void;
  /** the next call's first batch may be requested on this connection (keep_connection_between_calls, one stream) */
  carry: boolean;
  /** a stream reading ahead of the response: its batches are recorded when emitted (StreamNote) */
  ahead: boolean;
}

/** The state of a table whose load (or re-read) is complete: where its next pass starts. */
function loadDone(plan: TablePlan, table: TableState): TableState {
  const width = table.width;
  if (table.phase === 'pages') return {phase: 'pages', page: 0, key: table.key, width};
  if (table.phase === 'incremental') return table;
  return plan.method === 'incremental'
    ? {phase: 'incremental', position: table.start ?? null, horizon: table.horizon!, step: 'sweep', after: null, next_horizon: null, key: table.key, width}
    : {phase: 'full', after: null, key: table.key, width};
}

/** Requests a batch now; `ended` records when PostgreSQL finished it. */
function requestAhead(key: string, callId: string, decision: BatchDecision, batch: Promise<Batch>): Ahead {
  const ahead: Ahead = {key, callId, decision, started: performance.now(), ended: null, batch};
  // if the call ends first (the adapter stops it), the connection may close under this query: not an error
  batch.then(() => (ahead.ended = performance.now()), () => undefined);
  return ahead;
}

/** The bytes of a batch's rows, as the call holds them until it emits them (0 for any other item). */
function batchBytes(item: StreamItem): number {
  return item.kind === 'upsertJson' ? item.json.length : item.kind === 'upsertRecords' ? item.records.bytes.length : 0;
}

export async function* replicate(ctx: SyncContext<ReplicationSecrets, ReplicationState>): AsyncGenerator<Emit<ReplicationState>> {
  // behind the Partner SDK, the batches' rows are written as its Records rather than JSON (read.ts)
  const {secrets, budget, log, records} = ctx;
  const recorder = new RunRecorder(budget, ctx.syncId);
  const statementTimeoutMs = Math.max(30_000, budget.limits.timeoutSeconds * 1000);
  // with several streams, nothing is kept for the next call (their batches read ahead belong to this one)
  const keepable = secrets.keep_connection_between_calls && secrets.custom_threads === 1 && secrets.custom_queue_size === 1;
  const session = new SourceSession(
    postgresConfig(secrets, statementTimeoutMs),
    {retries: secrets.max_retries, baseDelayMs: secrets.retry_sleep_seconds * 1000},
    log,
    ctx.signal,
    keepable,
    () => budget.nowMs(),
  );
  /** custom_threads: the other streams' connections, closed when the call ends */
  const streamSessions: SourceSession[] = [];
  const newSession = () =>
    new SourceSession(postgresConfig(secrets, statementTimeoutMs), {retries: secrets.max_retries, baseDelayMs: secrets.retry_sleep_seconds * 1000}, log, ctx.signal);
  /** custom_threads: bytes of rows the streams have read that the call has not emitted yet */
  let unemittedBytes = 0;
  const pendingBytesOf = () => unemittedBytes;
  const reserveBytes = (bytes: number) => {
    unemittedBytes += bytes;
    let released = false;
    return () => {
      if (!released) unemittedBytes -= bytes;
      released = true;
    };
  };
  const retries = () => streamSessions.reduce((sum, stream) => sum + stream.retries, session.retries);
  let state: ReplicationState = ctx.state;
  let committed = JSON.stringify(state);
  const initial = committed;
  let committedRows = 0;
  let serverVersion = 0;
  /** how the call ended; null while running, and when the adapter stopped it at a checkpoint (more to do) */
  let outcome: 'finished' | 'error' | null = null;
  recorder.pass = state.pass;
  /** the table being read, to tell a bad position in the state from a bad filter value */
  let current = null as TablePlan | null;

  /**
   * The checkpoint after each batch. The adapter ends the call at the first checkpoint past a budget, so the
   * call's replication_runs row goes out before the checkpoint that will be the last: when a budget is spent,
   * or when the response is so close to its stopping line that the row would not fit after the next batch
   * (it is then re-emitted, same key, at the real last checkpoint).
   */
  function* commit(nextBatchBytes = 0, options: {endCall?: 'key_reinserted' | 'truncate_reload' | 'peek_memory'} = {}): Generator<Emit<ReplicationState>> {
    const json = JSON.stringify(state);
    recorder.retries = retries();
    recorder.connectionReused = session.reused;
    // the budget counts the last committed state; this checkpoint's may be larger
    const grown = json.length - committed.length;
    const reason = budget.spent(grown);
    const near = !budget.roomFor(grown + recorder.rowBytes() + nextBatchBytes);
    if (reason || near || options.endCall) {
      if (reason === 'memory') recorder.pressure();
      recorder.stopReason = options.endCall ?? reason ?? 'response_bytes';
      yield upsert(RUNS_TABLE, recorder.row());
    }
    committed = json;
    committedRows = recorder.rowCount;
    // a copy: the adapter keeps the object, and `state` changes after this
    yield checkpoint(JSON.parse(json), {endCall: Boolean(options.endCall)});
    if (budget.stopping) {
      // The adapter ends the call here and looks one item further only to tell "more to do" from "done",
      // dropping that item. Answer with a declaration (free) rather than start a batch only to discard it.
      yield declareTable(RUNS_TABLE, RUNS_SPEC);
    }
  }

  yield declareTable(RUNS_TABLE, RUNS_SPEC);
  try {
    // the details (comments, defaults, sizes on disk) only feed the metadata tables, emitted at a pass's start
    if (secrets.debug) log.info('call started', {at_ms: Math.round(budget.elapsedMs())});
    const catalog = await session.run('discovery', (client) => discover(client, secrets.schemas, {detail: state.table === null, names: candidateNames(secrets.include_tables)}));
    if (secrets.debug) log.info('discovered', {at_ms: Math.round(budget.elapsedMs()), tables: catalog.tables.length, connection_reused: session.reused});
    serverVersion = catalog.serverVersion;
    const plans = planReplication(catalog, secrets);
    for (const plan of plans) yield declareTable(plan.dest, replicatedSpec(plan, secrets));
    const known = new Set(plans.map((p) => p.dest));
    const cdc = secrets.update_method === 'cdc';
    if (cdc && !state.cdc) {
      // the slot first: it keeps every change committed from here on, so the full load that follows may miss none
      const names = cdcNames(secrets);
      const start = await session.run('creating the replication slot', async (client) => {
        await checkCdc(client, plans);
        await ensurePublication(client, names.publication, cdcTables(plans));
        return ensureSlot(client, names.slot);
      });
      state.cdc = {lsn: start.lsn, skip: 0, streaming: false};
    } else if (!cdc && state.cdc) {
      delete state.cdc;
    }
    if (!state.cdc?.streaming) yield* fullLoad();
    if (state.cdc) yield* stream();
    recorder.stopReason = 'finished';
    outcome = 'finished';
    recorder.retries = retries();
    recorder.connectionReused = session.reused;
    yield upsert(RUNS_TABLE, recorder.row());
    yield checkpoint(state);

    /** Today's keyset pass over every table; with cdc, the full load before streaming. */
    async function* fullLoad(): AsyncGenerator<Emit<ReplicationState>> {
      if (state.table === null) {
        // A new pass (a new sync): the metadata tables, then forget tables no longer replicated. The metadata
        // rows are split across checkpoints like any rows (a catalog of 400 tables of 81 columns is more than a
        // response holds): a checkpoint after each eighth of the response cap records the last table described.
        const chunkBytes = budget.limits.responseCapBytes / 8;
        let bytes = 0;
        const after = state.metadata_after ?? null;
        const rest = plans.filter((plan) => after === null || plan.dest > after);
        for (const [index, plan] of rest.entries()) {
          for (const [table, row] of [[TABLES_TABLE, tableRow(plan)] as const, ...columnRows(plan).map((r) => [COLUMNS_TABLE, r] as const)]) {
            bytes += JSON.stringify(row).length + 1;
            yield upsert(table, row);
          }
          if (bytes >= chunkBytes && index < rest.length - 1) {
            state.metadata_after = plan.dest;
            yield* commit();
            bytes = 0;
          }
        }
        delete state.metadata_after;
        state = {...state, table: plans[0]!.dest, tables: Object.fromEntries(Object.entries(state.tables).filter(([dest]) => known.has(dest)))};
        yield* commit();
      }
      const pending = plans.filter((plan) => state.table === null || plan.dest >= state.table);
      const threaded =
        secrets.custom_threads > 1 || secrets.custom_queue_size > 1 || state.finished !== undefined ||
        pending.some((plan) => {
          const table = state.tables[plan.dest];
          return table !== undefined && 'parts' in table && table.parts !== undefined;
        });
      if (threaded) {
        yield* threadedPass(pending);
        delete state.finished;
      }
      const io = oneStream();
      for (const [index, plan] of (threaded ? [] : pending).entries()) {
        state.table = plan.dest;
        current = plan;
        // one stream: the items are this call's own emits (io.commit is the real checkpoint)
        yield* replicateTable(plan, io) as AsyncGenerator<Emit<ReplicationState>>;
        const next = pending[index + 1];
        if (!next) break;
        // the table's pass is done: the same checkpoint moves the pass on, so a resumed call never repeats it
        state.table = next.dest;
        yield* commit();
      }
      state = {version: 1, pass: state.pass + 1, table: null, tables: state.tables, ...(state.cdc ? {cdc: {...state.cdc, streaming: true}} : {})};
      // with cdc the load is done: from this checkpoint on every call streams from the slot
      if (state.cdc) yield* commit();
    }

    /**
     * Change data capture: the incoming state proves the response that reached its position was committed, so
     * the slot is advanced there; then the slot is peeked (never consumed) and each transaction delivered with
     * a checkpoint at its end. The adapter ends the call at the first checkpoint past a budget (hasMore true);
     * when the slot has nothing more the call finishes.
     */
    async function* stream(): AsyncGenerator<Emit<ReplicationState>> {
      const names = cdcNames(secrets);
      const mapper = new ChangeMapper(plans);
      const warned = new Set<string>();
      const warnings: string[] = [];
      const warn = (message: string) => {
        if (!warned.has(message)) warnings.push(message);
        warned.add(message);
      };
      const from = state.cdc!.lsn;
      recorder.slotLagBytes = await session.run('advancing the replication slot', async (client) => {
        await advanceSlot(client, names.slot, {lsn: from, skip: 0});
        return slotLagBytes(client, names.slot);
      });
      const lagMb = (recorder.slotLagBytes ?? 0) / 1024 / 1024;
      if (lagMb > secrets.max_slot_lag_mb) {
        yield warning(
          `the replication slot ${names.slot} holds ${lagMb.toFixed(1)} MB of WAL (max_slot_lag_mb ${secrets.max_slot_lag_mb}): PostgreSQL keeps it until this connection catches up; sync more often, or drop the slot if the connection is gone`,
        );
      }
      /** rows this response deletes: Fivetran applies a response's upserts before its deletes */
      const deleted = new Set<string>();
      /** response bytes and slot messages (begin, commit and changes) of the transactions delivered so far */
      let deliveredBytes = 0;
      let deliveredMessages = 0;
      // a reload a previous call began (or scheduled) comes before any further change
      yield* reloadTruncated();
      if (budget.stopping) return;
      /**
       * Delivers one transaction of the slot (or what is left of it), with a checkpoint at its end and, for one
       * larger than a response, at each chunk. True when the call ends here (budget.stopping).
       */
      async function* deliver(transaction: Transaction): AsyncGenerator<Emit<ReplicationState>, boolean> {
        const at = state.cdc!;
        if (parseLsn(transaction.endLsn) <= parseLsn(at.lsn)) return false;
        deliveredMessages += transaction.changes.length + 2;
        // The transaction's net changes, one per row, in an order that is the same on every call: a
        // transaction larger than a response is delivered in chunks, `skip` counting those delivered.
        const changes = mapper.changes(transaction, warn).slice(at.skip);
        for (const message of warnings.splice(0)) yield warning(message);
        // A row this response deletes comes back: in one response the delete would win (Fivetran applies
        // upserts before deletes), so the call ends here, at the last transaction boundary, and the next
        // call of the same sync delivers this transaction first.
        if (deleted.size && changes.some((c) => c.kind === 'upsert' && deleted.has(`${c.table}\u0000${c.key}`))) {
          yield* commit(0, {endCall: 'key_reinserted'});
          // the Function adapter has ended the call; the Partner SDK streams records in order and goes on
          deleted.clear();
        }
        const chunkBytes = budget.limits.responseCapBytes / 8;
        let delivered = at.skip;
        for (let from = 0; from < changes.length || from === 0; ) {
          const upserts = new Map<string, Buffer[]>();
          let bytes = 0;
          let to = from;
          for (; to < changes.length && (bytes < chunkBytes || to === from); to++) {
            const change = changes[to]!;
            if (change.kind === 'delete') {
              deleted.add(`${change.table}\u0000${change.key}`);
              yield remove(change.table, change.keys);
              recorder.changes(change.table, 1, change.key.length);
              bytes += change.key.length;
            } else {
              const rows = upserts.get(change.table);
              if (rows) rows.push(change.json);
              else upserts.set(change.table, [change.json]);
              bytes += change.json.length + 1;
            }
          }
          deliveredBytes += bytes;
          // the size of a message in the response, for the next call's first peek (firstPeek)
          bytesPerPeekedMessage.set(names.slot, deliveredBytes / deliveredMessages);
          for (const [table, rows] of upserts) {
            const json = joinRows(rows);
            recorder.changes(table, rows.length, json.length);
            yield upsertJson(table, json, rows.length);
          }
          delivered += to - from;
          from = to;
          const whole = to >= changes.length;
          if (!whole) {
            state.cdc = {lsn: at.lsn, skip: delivered, streaming: true};
            yield* commit();
            if (budget.stopping) return true;
            continue;
          }
          state.cdc = {lsn: transaction.endLsn, skip: 0, streaming: true};
          const truncated = mapper.truncated(transaction);
          for (const plan of truncated) recorder.truncated.push(`${plan.source.schema}.${plan.source.name}`);
          if (truncated.length && secrets.truncate === 'resync') {
            // The reload is scheduled in the transaction's own checkpoint, so a resumed call does it before
            // any later change. Changes after the TRUNCATE are then replayed over the reload, as over the
            // first full load. Its upserts must not share a response with this one's deletes (those would win).
            yield warning(`TRUNCATE of ${truncated.map((p) => p.display).join(', ')} (at ${transaction.endLsn}): reloading from the source (truncate: resync)`);
            for (const plan of truncated) state.tables[plan.dest] = initialTableState(plan);
            state.cdc.reload = truncated.map((plan) => plan.dest);
            yield* commit(0, deleted.size ? {endCall: 'truncate_reload'} : {});
            if (budget.stopping) return true;
            deleted.clear();
            yield* reloadTruncated();
            if (budget.stopping) return true;
          } else {
            if (truncated.length) {
              yield warning(
                `TRUNCATE of ${truncated.map((p) => p.display).join(', ')} (at ${transaction.endLsn}) is not applied: the rows it removed stay in the destination; set truncate: resync to reload truncated tables, or resync the table`,
              );
            }
            yield* commit();
            if (budget.stopping) return true;
          }
          break;
        }
        return false;
      }
      if (budget.streaming) {
        // A Partner SDK Update: one decoding session over a replication connection (cdc/stream.ts), which
        // decodes each change once where peeks decode the backlog again each time; peeks when refused.
        const until = await session.run('reading the WAL position', (client) => streamEnd(client));
        let slotStream: SlotStream | undefined;
        try {
          slotStream = await SlotStream.open(session.replicationConfig(), names, from);
        } catch (error) {
          yield warning(
            `cannot stream the replication slot ${names.slot} over a replication connection (${(error as Error).message}); reading it by peeks, which decode the backlog again at each peek: connect to the server itself (a pooler such as PgBouncer does not pass replication connections) as a user with the REPLICATION attribute`,
          );
        }
        if (slotStream) {
          try {
            for await (const transaction of slotStream.transactions(until)) {
              if (yield* deliver(transaction)) return;
            }
          } finally {
            await slotStream.close();
          }
          return;
        }
      }
      let previousMessages = 0;
      for (let asked = firstPeek(budget.limits.responseCapBytes, budget.memoryHeadroomBytes(), bytesPerPeekedMessage.get(names.slot)); ; ) {
        const rssBefore = process.memoryUsage.rss();
        const peek = await session.run('reading the replication slot', (client) => peekChanges(client, names, asked));
        const messageMemoryBytes = (process.memoryUsage.rss() - rssBefore) / Math.max(1, peek.messages);
        const bytesLeftBefore = budget.bytesLeft();
        for (let t = 0; t < peek.transactions.length; t++) {
          const transaction = peek.transactions[t]!;
          // what is delivered need not stay in memory while the rest of the peek is
          peek.transactions[t] = undefined as never;
          if (yield* deliver(transaction)) return;
        }
        if (peek.messages < asked) return;
        const next = nextPeek({
          messages: peek.messages,
          previousMessages,
          deliveredBytes: bytesLeftBefore - budget.bytesLeft(),
          bytesLeft: budget.bytesLeft(),
          messageMemoryBytes,
          memoryHeadroomBytes: budget.memoryHeadroomBytes(),
        });
        if (next.end) {
          yield* commit(0, {endCall: 'peek_memory'});
          // The Function adapter has ended the call. A Partner SDK Update reading by peeks (no replication
          // connection) ends too: its slot moves only when an Update starts, so each further peek would hold
          // more; the next Update advances the slot to this checkpoint and goes on from there.
          if (budget.stopping || budget.streaming) return;
        }
        previousMessages = peek.messages;
        asked = next.asked;
      }
    }

    /** One stream on the call's connection: the items are the call's own emits (io.commit is the real checkpoint). */
    function oneStream(): TableIo {
      return {
        session,
        save: (dest, table) => void (state.tables[dest] = table),
        commit,
        pendingBytes: () => 0,
        reserve: () => () => undefined,
        carry: true,
        ahead: false,
      };
    }

    /**
     * truncate: resync: each table of state.cdc.reload loaded again by keyset from its saved position, one
     * checkpoint per batch; the table leaves the list in the checkpoint after its last batch.
     */
    async function* reloadTruncated(): AsyncGenerator<Emit<ReplicationState>> {
      while (state.cdc?.reload?.length) {
        const plan = plans.find((p) => p.dest === state.cdc!.reload![0]);
        if (plan) {
          current = plan;
          yield* replicateTable(plan, oneStream()) as AsyncGenerator<Emit<ReplicationState>>;
        }
        const rest = state.cdc.reload.slice(1);
        state.cdc = {lsn: state.cdc.lsn, skip: state.cdc.skip, streaming: true, ...(rest.length ? {reload: rest} : {})};
        yield* commit();
        if (budget.stopping) return;
      }
    }

    /**
     * custom_threads / custom_queue_size: the pass's tables on several streams, each on its own connection,
     * a large table's load split into primary key (or heap page) ranges. Each stream reads ahead of what the
     * call has emitted, on a private copy of its table's state; its checkpoints carry what its emitted rows
     * moved, applied to the call's state as the call emits them, so every checkpoint holds exactly the
     * positions of the rows before it. `state.table` is the first table the pass has not finished,
     * `state.finished` the later ones it has.
     */
    async function* threadedPass(pending: TablePlan[]): AsyncGenerator<Emit<ReplicationState>> {
      // (a table no longer replicated is forgotten here too)
      const finished = new Set((state.finished ?? []).filter((dest) => pending.some((plan) => plan.dest === dest)));
      const units: {plan: TablePlan; part: number | null}[] = [];
      const partsLeft = new Map<string, number>();
      for (const plan of pending) {
        if (finished.has(plan.dest)) continue;
        yield* splitLoad(plan);
        const table = state.tables[plan.dest];
        const parts = table && 'parts' in table ? table.parts : undefined;
        if (!parts) {
          units.push({plan, part: null});
          continue;
        }
        const left = parts.flatMap((part, index) => (part.done ? [] : [index]));
        partsLeft.set(plan.dest, left.length);
        for (const index of left) units.push({plan, part: index});
      }
      const byDest = new Map(pending.map((plan) => [plan.dest, plan]));
      const workers = Math.max(1, Math.min(secrets.custom_threads, units.length));
      const sessions = [session, ...Array.from({length: workers - 1}, () => newSession())];
      streamSessions.push(...sessions.slice(1));
      let next = 0;
      const counted = async function* (unit: AsyncIterable<StreamItem>): AsyncGenerator<StreamItem> {
        for await (const item of unit) {
          unemittedBytes += batchBytes(item);
          yield item;
        }
      };
      const items = interleave<StreamItem>({
        workers,
        queue: secrets.custom_queue_size,
        nextUnit: (worker) => {
          const unit = units[next++];
          if (!unit) return null;
          return counted(unit.part === null ? tableUnit(unit.plan, sessions[worker]!) : partUnit(unit.plan, unit.part, sessions[worker]!));
        },
        isBatch: (item) => item.kind === 'upsertJson' || item.kind === 'upsertRecords',
        isCheckpoint: (item) => item.kind === 'mark',
        // memory holds what waits beside the batches in flight (the same factor as a batch's own cost)
        mayReadAhead: () => recorder.sampleMemory() > MEMORY_COST_FACTOR * unemittedBytes,
      });
      let unitsLeft = units.length;
      for await (const item of items) {
        if (item.kind === 'note') {
          item.apply();
          continue;
        }
        if (item.kind !== 'mark') {
          unemittedBytes -= batchBytes(item);
          yield item;
          continue;
        }
        item.apply(state);
        if (item.final) {
          unitsLeft--;
          if (item.part === null) finished.add(item.dest);
          else {
            const left = partsLeft.get(item.dest)! - 1;
            partsLeft.set(item.dest, left);
            if (left === 0) {
              const {parts: _parts, ...table} = state.tables[item.dest] as TableState & {parts?: unknown};
              state.tables[item.dest] = loadDone(byDest.get(item.dest)!, table as TableState);
              finished.add(item.dest);
            }
          }
          const first = pending.find((plan) => !finished.has(plan.dest));
          state.table = first?.dest ?? pending.at(-1)!.dest;
          const later = first ? [...finished].filter((dest) => dest > first.dest).sort() : [];
          if (later.length) state.finished = later;
          else delete state.finished;
        }
        // the pass's last rows: the checkpoint that ends the pass commits them (as with one stream)
        if (unitsLeft === 0) continue;
        // batches already read will follow: this call's replication_runs row goes out while it still fits
        yield* commit(item.nextBytes + unemittedBytes);
      }
    }

    /**
     * The table's saved state, checked (or reset) as one stream would; then, at the start of its load or
     * re-read with custom_threads, a table larger than one response is split into ranges, one unit of work
     * each (a table that fits in one response gains nothing from it).
     */
    async function* splitLoad(plan: TablePlan): AsyncGenerator<Emit<ReplicationState>> {
      const {table, reset} = tableState(state, plan);
      if (reset) yield warning(reset);
      state.tables[plan.dest] = table;
      const threads = secrets.custom_threads;
      if (threads === 1 || plan.source.estimatedBytes <= budget.limits.responseCapBytes) return;
      if (table.phase === 'full' && table.after === null && !table.parts) {
        let start: TableState = table;
        if (plan.method === 'incremental' && table.horizon === undefined) {
          const at = await session.run(`reading the start of ${plan.display}`, (client) => loadStart(client, plan, catalogVersion()));
          start = {...table, horizon: at.horizon, start: at.start};
        }
        const pages = await session.run(`sizing ${plan.display}`, (client) => tablePages(client, plan));
        const bounds = pages > 1 ? await session.run(`splitting ${plan.display}`, (client) => keyRanges(client, plan, threads, pages)) : [];
        const edges = [null, ...bounds, null];
        state.tables[plan.dest] = bounds.length
          ? {...start, parts: bounds.concat([[]]).map((_, i) => ({after: edges[i]!, until: edges[i + 1]!, done: false}))}
          : start;
      } else if (table.phase === 'pages' && table.page === 0 && !table.parts) {
        const pages = await session.run(`sizing ${plan.display}`, (client) => tablePages(client, plan));
        const step = Math.ceil(pages / threads);
        if (pages < 2) return;
        const count = Math.ceil(pages / step);
        state.tables[plan.dest] = {...table, parts: Array.from({length: count}, (_, i) => ({page: i * step, until: i === count - 1 ? null : (i + 1) * step, done: false}))};
      }
    }

    /** A table on a stream of its own, its state a private copy until the call emits its rows. */
    async function* tableUnit(plan: TablePlan, stream: SourceSession): AsyncGenerator<StreamItem> {
      const dest = plan.dest;
      const own: Record<string, TableState> = {};
      const saved = state.tables[dest];
      if (saved) own[dest] = structuredClone(saved);
      const mark = (nextBytes: number, final: boolean): StreamMark => {
        const snapshot = structuredClone(own[dest]!);
        return {kind: 'mark', nextBytes, final, dest, part: null, apply: (into) => void (into.tables[dest] = snapshot)};
      };
      const io: TableIo = {
        session: stream,
        save: (name, table) => void (own[name] = table),
        commit: function* (nextBytes) {
          yield mark(nextBytes, false);
        },
        pendingBytes: () => pendingBytesOf(),
        reserve: reserveBytes,
        carry: false,
        ahead: true,
      };
      yield* replicateTable(plan, io);
      yield mark(0, true);
    }

    /** One range of a split load on a stream: rows after its position up to its end. */
    async function* partUnit(plan: TablePlan, index: number, stream: SourceSession): AsyncGenerator<StreamItem> {
      const dest = plan.dest;
      const table = state.tables[dest]!;
      const progress = await tableProgress(plan, table, stream);
      const io: TableIo = {session: stream, save: () => undefined, commit: function* () {}, pendingBytes: () => pendingBytesOf(), reserve: reserveBytes, carry: false, ahead: true};
      const mark = (part: object, nextBytes: number, final: boolean): StreamMark => {
        const snapshot = {...part};
        const width = Math.round(progress.bytesPerRow);
        return {
          kind: 'mark', nextBytes, final, dest, part: index,
          apply: (into) => {
            const target = into.tables[dest] as {parts: object[]; width?: number};
            target.parts[index] = snapshot;
            target.width = width;
          },
        };
      };
      if (table.phase === 'full') {
        const count = table.parts!.length;
        let part = table.parts![index]!;
        for (;;) {
          const until = part.until;
          const {batch, limit} = yield* sizedBatch(plan, progress, io, `load ${index + 1}/${count}`, part.after, `loading ${plan.display} (range ${index + 1} of ${count})`, (client, rows, after, bytes) =>
            readByKey(client, plan, after, rows, bytes, until, records),
          );
          if (batch.count < limit) {
            yield mark({...part, done: true}, 0, true);
            return;
          }
          part = {...part, after: batch.lastKey};
          yield mark(part, progress.bytesPerRow, false);
        }
      }
      if (table.phase !== 'pages') throw new Error(`${plan.display}: ranges of a ${table.phase} phase`);
      let part = table.parts![index]!;
      for (;;) {
        const from = part.page;
        const end = part.until ?? (await stream.run(`sizing ${plan.display}`, (client) => tablePages(client, plan)));
        if (from >= end) {
          yield mark({...part, done: true}, 0, true);
          return;
        }
        progress.rowsPerPage ||= Math.max(1, plan.source.estimatedRows / Math.max(1, end));
        let span = 0;
        const {batch} = yield* sizedBatch(
          plan, progress, io, 'pages', [String(from)], `reading ${plan.display}`,
          (client, rows, _position, bytes) => {
            span = Math.min(end - from, Math.max(1, Math.floor(rows / progress.rowsPerPage)));
            return readPages(client, plan, from, from + span, bytes, records);
          },
          false,
        );
        if (batch.count > 0) progress.rowsPerPage = Math.max(1, batch.count / span);
        part = {...part, page: from + span};
        yield mark(part, progress.bytesPerRow, false);
      }
    }
  } catch (error) {
    outcome = 'error';
    const dataError = (error as {cause?: {code?: string}}).cause?.code?.startsWith('22') === true;
    const mapped = (dataError && current && (await positionProblem(session, current, state.tables[current.dest]))) || mapError(error);
    recorder.stopReason = 'error';
    recorder.lastError = mapped.message;
    recorder.retries = retries();
    recorder.connectionReused = session.reused;
    // After progress, a retriable error ends the call with the committed work: record the call with it.
    // Without progress nothing is answered but the error, so nothing is emitted.
    if (committedRows > 0 || committed !== initial) {
      yield upsert(RUNS_TABLE, recorder.row());
      yield checkpoint(JSON.parse(committed));
    }
    throw mapped;
  } finally {
    // stopped by the adapter with more to do: the next call of this sync will most likely come to this
    // instance at once, so its connection and first batch are left ready for it
    // (only when asked: by default a call's one connection is closed when the call ends)
    if (outcome === null && keepable) await session.keep();
    else await session.close();
    await Promise.all(streamSessions.map((stream) => stream.close()));
  }

  /** How a table is read so far in this call (its width measured, the batch requested ahead). */
  async function tableProgress(plan: TablePlan, table: TableState, session: SourceSession): Promise<TableProgress> {
    const progress: TableProgress = {
      readKey: createHash('sha256').update(JSON.stringify([secrets, plan.spec, plan.method, plan.cursor?.name ?? null])).digest('base64'),
      bytesPerRow: table.width ?? estimateBytesPerRow(plan.source.averageRowBytes, plan.columns.map((c) => c.dest)),
      msPerRow: null,
      rowsPerPage: 0,
      probed: table.width !== undefined,
      ahead: null,
    };
    if (!progress.probed && plan.source.toastable) {
      // values may live in TOAST, where the catalog cannot tell a 300-byte row from a 5 MB one (and its page
      // counts lag until the next VACUUM): measure a few rows before the first read (once: the state keeps the width)
      const sampled = await session.run(`measuring the rows of ${plan.display}`, (client) => measureWidth(client, plan));
      // JSON adds the member names and escapes; text is close to JSON otherwise (bytea's hex is wider than base64)
      progress.bytesPerRow = Math.max(progress.bytesPerRow, Math.round(sampled * 1.2) + estimateBytesPerRow(0, plan.columns.map((c) => c.dest)));
    }
    return progress;
  }

  async function* replicateTable(plan: TablePlan, io: TableIo): AsyncGenerator<StreamItem> {
    const {session} = io;
    const {table: initial, reset} = tableState(state, plan);
    if (reset) yield warning(reset);
    let table: TableState = initial;
    const save = (next: TableState) => {
      table = {...next, width: Math.round(progress.bytesPerRow)};
      io.save(plan.dest, table);
    };
    const progress = await tableProgress(plan, table, session);
    save(table);
    for (;;) {
      if (table.phase === 'full') {
        if (plan.method === 'incremental' && table.horizon === undefined) {
          const start = await session.run(`reading the start of ${plan.display}`, (client) => loadStart(client, plan, catalogVersion()));
          save({...table, horizon: start.horizon, start: start.start});
        }
        const {batch, limit} = yield* sizedBatch(plan, progress, io, 'load', table.after, `loading ${plan.display}`, (client, rows, after, bytes) =>
          readByKey(client, plan, after, rows, bytes, null, records),
        );
        if (batch.count < limit) {
          save(loadDone(plan, table));
          return;
        }
        save({...table, after: batch.lastKey});
        yield* io.commit(progress.bytesPerRow);
      } else if (table.phase === 'incremental') {
        if (table.next_horizon === null) {
          const horizon = await session.run('reading the snapshot horizon', (client) => snapshotHorizon(client, catalogVersion()));
          save({...table, next_horizon: horizon});
        }
        const current = table;
        if (current.step === 'sweep') {
          const {batch, limit} = yield* sizedBatch(plan, progress, io, 'sweep', current.after, `checking ${plan.display} for late commits`, (client, rows, after, bytes) =>
            readLateCommits(client, plan, current.horizon, current.position, after, rows, bytes, records),
          );
          save(batch.count < limit ? {...current, step: 'scan', after: null} : {...current, after: batch.lastKey});
          yield* io.commit(progress.bytesPerRow);
        } else {
          const {batch, limit} = yield* sizedBatch(plan, progress, io, 'scan', current.position, `reading changes of ${plan.display}`, (client, rows, position, bytes) =>
            readByCursor(client, plan, position, rows, bytes, records),
          );
          const position = batch.count > 0 ? batch.lastKey : current.position;
          if (batch.count < limit) {
            save({...current, position, step: 'sweep', after: null, horizon: current.next_horizon!, next_horizon: null});
            return;
          }
          save({...current, position});
          yield* io.commit(progress.bytesPerRow);
        }
      } else {
        const pages = await session.run(`sizing ${plan.display}`, (client) => tablePages(client, plan));
        const current = table;
        if (current.page >= pages) {
          save(loadDone(plan, current));
          return;
        }
        if (!progress.rowsPerPage) {
          const heapPages = Math.max(1, pages);
          progress.rowsPerPage = Math.max(1, plan.source.estimatedRows / heapPages);
        }
        let span = 0;
        const {batch} = yield* sizedBatch(
          plan,
          progress,
          io,
          'pages',
          [String(current.page)],
          `reading ${plan.display}`,
          (client, rows, _position, bytes) => {
            span = Math.max(1, Math.floor(rows / progress.rowsPerPage));
            return readPages(client, plan, current.page, current.page + span, bytes, records);
          },
          false,
        );
        if (batch.count > 0) progress.rowsPerPage = Math.max(1, batch.count / span);
        save({...current, page: current.page + span});
        yield* io.commit(progress.bytesPerRow);
      }
    }
  }

  /**
   * Decides the batch size, reads the batch and emits it. A batch that came out larger than the response has
   * room for (rows wider than measured) is read again smaller rather than handed to the adapter to drop.
   * When the call will go on after this batch, the next batch of the same step is requested before this one
   * is emitted, so it is read while Node hands this one to the response. When the call will stop
   * after this batch (a budget is spent) the next batch is requested all the same, for the next call: the
   * session keeps it with the connection (see SourceSession.keep), so PostgreSQL sends it while the
   * response is assembled and sent, and the next call, if it starts at that position, begins with it.
   */
  async function* sizedBatch(
    plan: TablePlan,
    progress: TableProgress,
    io: TableIo,
    step: string,
    position: readonly string[] | null,
    what: string,
    read: (client: pg.Client, rows: number, position: readonly string[] | null, expectedBytes: number) => Promise<Batch>,
    chained = true,
  ): AsyncGenerator<StreamItem, {batch: Batch; limit: number}> {
    const {session} = io;
    const cap = budget.limits.responseCapBytes;
    // room for the next state (the budget counts the committed one) and this call's replication_runs row,
    // emitted before the checkpoint it stops at
    const reserveBytes = () => committed.length + recorder.rowBytes();
    const decide = (held: number, probe: boolean): BatchDecision => {
      const pressure = recorder.samplePressure();
      return decideBatch({
        category: plan.source.category,
        customRows: secrets.custom_batch_size,
        bytesPerRow: progress.bytesPerRow,
        // aim a little past the line where the adapter ends the call, so the checkpoint after it is the last
        responseBytesLeft: Math.max(progress.bytesPerRow, budget.aimBytes(held) - reserveBytes()),
        timeLeftMs: budget.timeLeftMs(),
        msPerRow: progress.msPerRow,
        memoryHeadroomBytes: recorder.sampleMemory(),
        responseBytesHeld: held,
        probe,
        // a batch read ahead while the previous one is sent: about four per response
        pipelineBytes: chained ? cap / PIPELINE_BATCHES : 0,
        cpuPressure: pressure.cpu,
        diskPressure: pressure.disk,
      });
    };
    // a read's buffer is sized for its rows at the measured width
    const readSized = (client: pg.Client, rows: number, from: readonly string[] | null) => read(client, rows, from, rows * progress.bytesPerRow);
    const key = JSON.stringify([progress.readKey, plan.dest, step, position]);
    // the batch this call requested ahead, or the one the previous call requested for this call
    const carried = progress.ahead?.key === key || !io.carry ? null : session.takeCarried<Ahead>(key);
    let ahead = carried ?? (progress.ahead?.key === key ? progress.ahead : null);
    progress.ahead = null;
    for (let attempt = 1; ; attempt++) {
      // with several streams, what the others read and the call has not emitted yet will be in the response too
      const held = budget.bytesUsed + io.pendingBytes();
      const reserve = reserveBytes();
      const hardLimit = budget.bytesLeft() - reserve;
      let decision: BatchDecision;
      let started: number;
      let batch: Batch;
      let ended: number | null = null;
      if (ahead) {
        ({decision, started} = ahead);
        batch = await ahead.batch.catch(() => null as unknown as Batch);
        ended = ahead.ended;
        if (ahead.callId !== recorder.callId && batch) recorder.carriedRows += batch.count;
        ahead = null;
        // a read carried from the previous call that failed: read it again here, with retries
        if (!batch) {
          started = performance.now();
          batch = await session.run(what, (client) => readSized(client, decision.rows, position));
        }
      } else {
        decision = decide(held, !progress.probed && secrets.custom_batch_size === 0);
        started = performance.now();
        // what the read will likely bring: its rows, or the table's when it has fewer (a probe of a small table)
        const release = io.reserve(Math.min(decision.rows, Math.max(1, plan.source.estimatedRows)) * progress.bytesPerRow);
        try {
          batch = await session.run(what, (client) => readSized(client, decision.rows, position));
        } finally {
          release();
        }
      }
      const ms = (ended ?? performance.now()) - started;
      progress.probed = true;
      if (batch.count > 0) {
        progress.bytesPerRow = Math.max(16, (batch.bytes / batch.count) * 1.05);
        progress.msPerRow = ms / batch.count;
      }
      const record = recorder.batch.bind(recorder, plan.dest, step, plan.source.category, decision, batch.count, batch.bytes, ms, progress.bytesPerRow);
      if (io.ahead) yield {kind: 'note', apply: record};
      else record();
      if (secrets.debug) {
        log.info('batch', {
          table: plan.dest, step, limit_rows: decision.rows, reason: decision.reason, rows: batch.count, bytes: batch.bytes, ms: Math.round(ms), at_ms: Math.round(budget.elapsedMs()),
          memory_headroom: Math.round(recorder.sampleMemory()), response_bytes_held: held, response_bytes_reserved: reserve, cpu_ratio: Math.round(recorder.samplePressure().cpuRatio * 100) / 100,
        });
      }
      if (batch.count === 1 && held === 0 && batch.bytes + 1 > hardLimit) {
        // one row that no response can hold, and this call has nothing else to answer: no call could ever get
        // past it. (With rows already held, the adapter drops it and ends the call; the next one comes here.)
        const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
        throw new ConfigError(
          `a row of ${plan.display} is ${mib(batch.bytes)} of JSON, more than one response can hold (response_cap_bytes ${mib(cap)}); raise response_cap_bytes for this function in deploy.yaml (Cloud Functions allows up to 32 MiB) or exclude the table`,
        );
      }
      if (batch.bytes + 1 > hardLimit && batch.count > 1 && attempt === 1) {
        // wider rows than measured: read fewer, once (the measured width is now the real one). A batch that
        // still does not fit is the adapter's to drop: it ends the call there and the next call reads it.
        continue;
      }
      const heldAfter = held + batch.bytes + 1;
      // more rows of this step follow, and memory can hold the next batch beside everything held
      const more =
        chained && batch.count === decision.rows && batch.lastKey !== null &&
        recorder.sampleMemory() > MEMORY_COST_FACTOR * 2 * (batch.bytes + heldAfter);
      // a stream reading ahead reads its next batch once this one is queued (streams.ts): no request ahead here
      const goesOn = more && !io.ahead && budget.roomFor(batch.bytes + 1 + reserve + progress.bytesPerRow * 2) && budget.timeLeftMs() > ms * 4;
      const nextKey = JSON.stringify([progress.readKey, plan.dest, step, batch.lastKey]);
      const lastKey = batch.lastKey;
      if (goesOn) {
        const next = decide(heldAfter, false);
        progress.ahead = requestAhead(nextKey, recorder.callId, next, session.run(what, (client) => readSized(client, next.rows, lastKey)));
      } else if (more && keepable && io.carry) {
        // the call stops at the checkpoint after this batch: the next call's first batch, sized for an empty response
        const next = decide(0, false);
        session.carry(nextKey, (client) => requestAhead(nextKey, recorder.callId, next, readSized(client, next.rows, lastKey)));
      }
      if (batch.count > 0) yield batch.records ? upsertRecords(batch.records) : upsertJson(plan.dest, batch.json, batch.count);
      return {batch, limit: decision.rows};
    }
  }

  function catalogVersion(): number {
    return serverVersion;
  }
}

/**
 * After a query failed on a value that does not fit its type: whether the table's saved position is at fault
 * (a state edited or forged: key values that are not values of the key's columns), as a RequestError saying
 * which field; null when the position is sound (then the filters are to blame).
 */
async function positionProblem(session: SourceSession, plan: TablePlan, table: TableState | undefined): Promise<Error | null> {
  if (!table || table.phase === 'pages') return null;
  const ordered = [...(plan.cursor ? [plan.cursor] : []), ...plan.primaryKey];
  const fields: [string, readonly string[] | null | undefined, typeof ordered][] =
    table.phase === 'full' ? [['after', table.after, plan.primaryKey], ['start', table.start, ordered]] : [['position', table.position, ordered], ['after', table.after, plan.primaryKey]];
  const where = (field: string) => `state.tables.${plan.dest}.${field}`;
  for (const [field, values, columns] of fields) {
    if (!values) continue;
    for (const [i, column] of columns.entries()) {
      const fits = await session
        .run('checking the saved position', (client) => client.query(`SELECT $1::text::${column.type}`, [values[i]]))
        .then(() => true, () => false);
      if (!fits) {
        return new RequestError(
          `the state is not one this connector wrote: ${where(field)}[${i}] (${JSON.stringify(values[i]).slice(0, 60)}) is not a value of column "${column.name}" (${column.type}) of ${plan.display}; ${RESET_STATE}`,
        );
      }
    }
  }
  return null;
}

function mapError(error: unknown): Error {
  const cause = (error as {cause?: {code?: string}}).cause;
  if (cause?.code?.startsWith('22')) {
    return new ConfigError(`a filter value does not fit its column's type (${(cause as unknown as Error).message}); check region and table_filters`, {cause});
  }
  return error instanceof Error ? error : new Error(String(error));
}
