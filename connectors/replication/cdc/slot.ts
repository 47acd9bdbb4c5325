// The server side of change data capture: readiness checks that say exactly which setting is missing, the
// publication and the logical slot, and reading the slot over plain SQL so a stateless function can do it.
//
// Exactly once by the protocol: a call only peeks (pg_logical_slot_peek_binary_changes). The position it
// reached goes into the state with the rows; the next call, whose incoming state proves Fivetran committed
// that response, first advances the slot to that position (pg_replication_slot_advance), then peeks on. A
// failed or repeated call therefore re-reads the same changes, which the warehouse applies idempotently.
// A Partner SDK Update, which the slot cannot follow call by call, reads it over a replication connection
// instead (stream.ts), from the same position and with the same transactions (TransactionAssembler).
// Positions are commit boundaries (a transaction's end LSN) plus the number of changes of the next
// transaction already delivered, so a transaction larger than a response spans several calls.
import type pg from 'pg';
import {ConfigError, SourceError} from '../../../sdk/index.js';
import {decodeMessage, parseLsn, type PgOutputMessage, type Relation} from './pgoutput.js';

export interface SlotPosition {
  /** the end LSN of the last transaction wholly delivered and committed (the slot is advanced to it) */
  lsn: string;
  /** changes of the transaction after `lsn` already delivered */
  skip: number;
}

export interface CdcNames {
  slot: string;
  publication: string;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** One problem per line, each naming the setting and how to set it; empty when CDC can run. */
export async function cdcProblems(client: pg.ClientBase, tables: {schema: string; table: string; hasKey: boolean}[]): Promise<string[]> {
  const problems: string[] = [];
  // rds_replication and cloudsqlsuperuser exist only on RDS and Cloud SQL: look them up, not pg_has_role by name
  const memberOf = (role: string) => `coalesce((SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = '${role}'), false)`;
  const {rows} = await client.query<{wal_level: string; replication: boolean; superuser: boolean; rds: boolean; cloudsql: boolean; slots: string; user: string}>(
    `SELECT current_setting('wal_level') AS wal_level, r.rolreplication AS replication, r.rolsuper AS superuser,
            ${memberOf('rds_replication')} AS rds, ${memberOf('cloudsqlsuperuser')} AS cloudsql,
            current_setting('max_replication_slots') AS slots, current_user AS user
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const row = rows[0]!;
  if (row.wal_level !== 'logical') {
    problems.push(
      `wal_level is ${row.wal_level}, and change data capture needs logical: set wal_level = logical and restart PostgreSQL (Cloud SQL: the flag cloudsql.logical_decoding = on; RDS: rds.logical_replication = 1 in the parameter group; Supabase: already logical)`,
    );
  }
  if (!row.replication && !row.superuser && !row.rds && !row.cloudsql) {
    problems.push(
      `the user ${JSON.stringify(row.user)} may not read replication slots: ALTER ROLE ... WITH REPLICATION (RDS: GRANT rds_replication TO ...; Cloud SQL: ALTER USER ... WITH REPLICATION as cloudsqlsuperuser)`,
    );
  }
  if (Number(row.slots) === 0) problems.push('max_replication_slots is 0: set it to at least 1 and restart PostgreSQL');
  for (const table of tables) {
    if (table.hasKey) continue;
    const identity = await client.query<{relreplident: string}>(
      `SELECT c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [table.schema, table.table],
    );
    if (identity.rows[0]?.relreplident !== 'f') {
      problems.push(`${quoteIdent(table.schema)}.${quoteIdent(table.table)} has no primary key, so its updates and deletes cannot be captured: ALTER TABLE ${quoteIdent(table.schema)}.${quoteIdent(table.table)} REPLICA IDENTITY FULL`);
    }
  }
  return problems;
}

/** Creates the publication for these tables, or sets its tables to them. */
export async function ensurePublication(client: pg.ClientBase, publication: string, tables: {schema: string; table: string}[]): Promise<void> {
  if (tables.length === 0) throw new ConfigError('no table is selected for change data capture; check include_tables');
  const list = tables.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`).join(', ');
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  await client.query(exists.rowCount ? `ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ${list}` : `CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${list}`);
}

/** Creates the slot when it does not exist; returns the LSN from which it has every change. */
export async function ensureSlot(client: pg.ClientBase, slot: string): Promise<{lsn: string; created: boolean}> {
  const existing = await client.query<{plugin: string; lsn: string | null}>('SELECT plugin, confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  if (existing.rows[0]) {
    if (existing.rows[0].plugin !== 'pgoutput') throw new ConfigError(`the replication slot ${slot} uses the plugin ${existing.rows[0].plugin}, not pgoutput; drop it or set cdc_slot to another name`);
    return {lsn: existing.rows[0].lsn ?? '0/0', created: false};
  }
  const {rows} = await client.query<{lsn: string}>(`SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return {lsn: rows[0]!.lsn, created: true};
}

/** Bytes of WAL the server keeps for the slot (current WAL position less what the slot confirmed). */
export async function slotLagBytes(client: pg.ClientBase, slot: string): Promise<number | null> {
  const {rows} = await client.query<{lag: string | null}>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return rows[0]?.lag == null ? null : Number(rows[0].lag);
}

export async function dropSlot(client: pg.ClientBase, slot: string): Promise<boolean> {
  const {rowCount} = await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return (rowCount ?? 0) > 0;
}

/**
 * Moves the slot to the position a committed response reached. An older position than the slot's means the
 * state was not the last one this connector committed: the changes in between are gone from the slot.
 */
export async function advanceSlot(client: pg.ClientBase, slot: string, position: SlotPosition): Promise<void> {
  const {rows} = await client.query<{lsn: string | null}>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  if (!rows[0]) throw new ConfigError(`the replication slot ${slot} does not exist (dropped?): its changes are lost; resync the connection to load the tables again`);
  const confirmed = parseLsn(rows[0].lsn ?? '0/0');
  const target = parseLsn(position.lsn);
  if (target < confirmed) {
    throw new ConfigError(
      `the state's position ${position.lsn} is behind the slot ${slot} (${rows[0].lsn}): the changes in between are no longer kept; resync the connection`,
    );
  }
  if (target > confirmed) await client.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [slot, position.lsn]);
}

export type Change =
  /** `old` is the whole old row of an update of a REPLICA IDENTITY FULL table */
  | {type: 'upsert'; relation: Relation; tuple: Extract<PgOutputMessage, {type: 'insert'}>['tuple']; old?: Extract<PgOutputMessage, {type: 'delete'}>['old']}
  | {type: 'delete'; relation: Relation; old: Extract<PgOutputMessage, {type: 'delete'}>['old']}
  | {type: 'truncate'; relations: Relation[]};

export interface Transaction {
  xid: number;
  /** the transaction's end LSN: the position to record once all of it is delivered */
  endLsn: string;
  changes: Change[];
}

/**
 * Builds transactions from the slot's messages in order (a peek's rows, or a replication stream's XLogData):
 * `add` returns a transaction at its commit. An update whose key changed becomes a delete of the old key and
 * an upsert of the new row.
 */
export class TransactionAssembler {
  private readonly relations = new Map<number, Relation>();
  private current: {xid: number; changes: Change[]} | undefined;

  constructor(private readonly slot: string) {}

  /** true between a transaction's begin and its commit */
  get open(): boolean {
    return this.current !== undefined;
  }

  private relationOf(oid: number): Relation {
    const relation = this.relations.get(oid);
    if (!relation) throw new SourceError(`the slot ${this.slot} sent a change to relation ${oid} before describing it`);
    return relation;
  }

  add(message: PgOutputMessage): Transaction | undefined {
    const current = this.current;
    switch (message.type) {
      case 'begin':
        this.current = {xid: message.xid, changes: []};
        break;
      case 'relation':
        this.relations.set(message.relation.oid, message.relation);
        break;
      case 'insert':
        current?.changes.push({type: 'upsert', relation: this.relationOf(message.relationOid), tuple: message.tuple});
        break;
      case 'update': {
        const relation = this.relationOf(message.relationOid);
        if (message.old?.kind === 'key') current?.changes.push({type: 'delete', relation, old: message.old});
        current?.changes.push({type: 'upsert', relation, tuple: message.tuple, ...(message.old?.kind === 'full' ? {old: message.old} : {})});
        break;
      }
      case 'delete':
        current?.changes.push({type: 'delete', relation: this.relationOf(message.relationOid), old: message.old});
        break;
      case 'truncate':
        current?.changes.push({type: 'truncate', relations: message.relationOids.map((oid) => this.relationOf(oid))});
        break;
      case 'commit':
        this.current = undefined;
        if (current) return {xid: current.xid, endLsn: message.endLsn, changes: current.changes};
        break;
      default:
        break; // origin, type and logical messages carry nothing to replicate
    }
    return undefined;
  }
}

/**
 * The transactions the slot holds after its confirmed position, decoded, at most about `maxChanges` changes
 * (whole transactions: PostgreSQL stops at a transaction's end). An update whose key changed becomes a
 * delete of the old key and an upsert of the new row.
 */
export async function peekTransactions(client: pg.ClientBase, names: CdcNames, maxChanges: number): Promise<Transaction[]> {
  return (await peekChanges(client, names, maxChanges)).transactions;
}

/** peekTransactions, with the number of messages the slot returned: fewer than asked means it has no more. */
export async function peekChanges(client: pg.ClientBase, names: CdcNames, maxChanges: number): Promise<{transactions: Transaction[]; messages: number}> {
  let result;
  try {
    result = await client.query<{data: Buffer}>(
      `SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, 'proto_version', '1', 'publication_names', $3)`,
      [names.slot, maxChanges, names.publication],
    );
  } catch (error) {
    const message = (error as Error).message;
    if (/does not exist/.test(message)) throw new ConfigError(`cannot read the replication slot ${names.slot}: ${message}; run the setup test to create the slot and publication`, {cause: error});
    throw new SourceError(`cannot read the replication slot ${names.slot}: ${message}`, {cause: error, retriable: true});
  }
  const assembler = new TransactionAssembler(names.slot);
  const transactions: Transaction[] = [];
  for (const {data} of result.rows) {
    const transaction = assembler.add(decodeMessage(data));
    if (transaction) transactions.push(transaction);
  }
  return {transactions, messages: result.rows.length};
}

/**
 * Memory a peeked message holds at least until its call ends: its row of PostgreSQL's answer, its decoded
 * tuple and change, the JSON delivered (a peek's measured growth of RSS per message counts when larger).
 */
const PEEK_MESSAGE_MEMORY_BYTES = 2048;

/** Response bytes a change takes before any is seen: a row of ~400 bytes of JSON. */
const FIRST_BYTES_PER_MESSAGE = 400;
const MIN_FIRST_PEEK = 5000;

/**
 * A call's first peek: about what one response holds, at the response bytes a message of this slot took in
 * the last call on this instance (`learned`; ~400 before any, e.g. on a new instance), a tenth more so that
 * one peek fills the response (one too small costs a second peek, which decodes the first's messages again:
 * at 200-byte changes, first peeks sized at 400 bytes made PostgreSQL decode each change about 3 times), and
 * no more than fits the memory left at 2 KiB a message.
 */
export function firstPeek(responseCapBytes: number, memoryHeadroomBytes: number, learned?: number): number {
  const wanted = learned ? Math.round((responseCapBytes / learned) * 1.1) : Math.round(responseCapBytes / FIRST_BYTES_PER_MESSAGE);
  const fits = Math.floor(Math.max(0, memoryHeadroomBytes) / PEEK_MESSAGE_MEMORY_BYTES);
  return Math.max(MIN_FIRST_PEEK, Math.min(wanted, fits));
}

export interface PeekSoFar {
  /** messages the last peek returned: all it asked for */
  messages: number;
  /** messages the peek before it returned (a peek reads every one of those again) */
  previousMessages: number;
  /** response bytes the changes new in the last peek took */
  deliveredBytes: number;
  /** response bytes the call still has room for */
  bytesLeft: number;
  /** the growth of RSS per message the last peek measured */
  messageMemoryBytes: number;
  /** memory left below the function's pressure line */
  memoryHeadroomBytes: number;
}

/**
 * The next peek of a call whose last peek returned all it asked for and left room in the response: about
 * what the response still has room for beyond what is read again (at the bytes a new change took, a quarter
 * more), at most four times the last. `end` when that would not fit the memory left: a Function call then
 * ends at its last checkpoint, and the next one, after advancing the slot, peeks from there (a peek holds all
 * it returns at once; at 100,000 updates in a sync, peeks of up to 84,000 messages took the replication
 * function of 512 MB to 525-619 MB of RSS). A Partner SDK Update reads by peeks only when the server refuses
 * it a replication connection (cdc/stream.ts); it then ends at that checkpoint too, as its slot moves only
 * when an Update starts.
 */
export function nextPeek(last: PeekSoFar): {asked: number; end: boolean} {
  const fresh = Math.max(1, last.messages - last.previousMessages);
  const perChange = Math.max(1, last.deliveredBytes / fresh);
  const wanted = last.messages + Math.ceil((last.bytesLeft / perChange) * 1.25) + 1;
  const asked = Math.min(last.messages * 4, wanted);
  return {asked, end: asked * Math.max(PEEK_MESSAGE_MEMORY_BYTES, last.messageMemoryBytes) > last.memoryHeadroomBytes};
}
