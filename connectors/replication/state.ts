// The connector's state: which pass (one per sync) it is in, which table of the pass it is on, and per table
// its phase and keyset position. Kept small: key values as text, transaction horizons as text.
import * as z from 'zod';
import {RequestError, RESET_STATE} from '../../sdk/index.js';
import type {ReadMethod, TablePlan} from './plan.js';

const keyValues = z.array(z.string(), {error: 'must be a list of key values as text, or null'}).nullable();
const xid = z.string().regex(/^\d+$/, {error: 'must be a transaction id (digits, as text)'});
/** measured JSON bytes per row, so the next call sizes its first batch without a probe */
const width = z.number().nonnegative().optional();
/** cursor and key columns the position refers to; a different configuration restarts the load */
const key = z.string();

/**
 * custom_threads: a load split into primary key ranges, each read by its own stream: rows after `after` up
 * to `until` (inclusive; null: to the end). The load is done when every range is.
 */
const KeyRange = z.strictObject({after: keyValues, until: keyValues, done: z.boolean()});
/** custom_threads: heap pages [page, until) of a table without a primary key (until null: to the last page). */
const PageRange = z.strictObject({page: z.number().int().nonnegative(), until: z.number().int().nonnegative().nullable(), done: z.boolean()});

/** Initial load (incremental tables) or the every-sync re-read (tables without a cursor): primary key order. */
const KeyLoadState = z.strictObject({
  phase: z.literal('full'),
  /** primary key of the last row read, or null at the start */
  after: keyValues,
  /** incremental tables only: the snapshot horizon and the largest (cursor, key) when the load began */
  horizon: xid.optional(),
  start: keyValues.optional(),
  /** custom_threads: the load's ranges (then `after` stays null) */
  parts: z.array(KeyRange).min(1).optional(),
  key,
  width,
});

const IncrementalState = z.strictObject({
  phase: z.literal('incremental'),
  /** (cursor, primary key) of the last row read */
  position: keyValues,
  /** rows whose xmin is at or after this transaction id may have been invisible to the reads so far */
  horizon: xid,
  /** this pass: first the late-commit sweep, then the cursor scan */
  step: z.enum(['sweep', 'scan']),
  /** sweep position (primary key) */
  after: keyValues,
  /** the horizon at the start of this pass, for the next pass's sweep */
  next_horizon: xid.nullable(),
  key,
  width,
});

/** Tables without a primary key: ctid page ranges, every sync from page 0. */
const PageState = z.strictObject({phase: z.literal('pages'), page: z.number().int().nonnegative(), parts: z.array(PageRange).min(1).optional(), key, width});

const TableStateSchema = z.discriminatedUnion('phase', [KeyLoadState, IncrementalState, PageState], {error: 'must have "phase" "full", "incremental" or "pages"'});

const ReplicationStateShape = z.strictObject({
  version: z.literal(1, {error: 'must be 1'}),
  /** one pass per sync: every table once */
  pass: z.number().int().positive(),
  /** destination table the pass is on; null when the pass has not started (metadata not yet emitted) */
  table: z.string().nullable(),
  /** while the pass has not started: the destination table whose metadata rows were emitted last */
  metadata_after: z.string().optional(),
  /** custom_threads: tables after `table` (which is the first not finished) that this pass has finished */
  finished: z.array(z.string()).optional(),
  tables: z.record(z.string(), TableStateSchema),
  /** update_method cdc: the slot position delivered so far, and whether the full load is done (then every call streams) */
  cdc: z
    .strictObject({
      /** the end LSN of the last transaction delivered (at first, the LSN where the slot began: the full load comes after it) */
      lsn: z.string().regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, {error: 'must be an LSN like 0/16B3748'}),
      skip: z.number().int().nonnegative(),
      streaming: z.boolean(),
      /** truncate: resync: destination tables to load again (a TRUNCATE emptied them), the first one in progress */
      reload: z.array(z.string()).optional(),
    })
    .optional(),
});

/**
 * The connector's state schema: {} (the first sync) is the start of the first pass; anything else must be a
 * state this connector wrote (the SDK refuses any other, naming the field).
 */
export const ReplicationState = z.preprocess(
  (raw) => (raw && typeof raw === 'object' && Object.keys(raw).length === 0 ? {version: 1, pass: 1, table: null, tables: {}} : raw),
  ReplicationStateShape,
);

export type TableState = z.infer<typeof TableStateSchema>;
export type ReplicationState = z.infer<typeof ReplicationStateShape>;

/** The columns a table's positions refer to, e.g. `updated_at|id`; a change means positions are stale. */
export function keySignature(plan: TablePlan): string {
  if (plan.method === 'ctid') return 'ctid';
  return [plan.method === 'incremental' ? plan.cursor!.name : '', ...plan.primaryKey.map((c) => c.name)].join('|');
}

export function initialTableState(plan: TablePlan): TableState {
  const key = keySignature(plan);
  return plan.method === 'ctid' ? {phase: 'pages', page: 0, key} : {phase: 'full', after: null, key};
}

const phaseOf: Record<ReadMethod, TableState['phase'][]> = {
  incremental: ['full', 'incremental'],
  reload: ['full'],
  ctid: ['pages'],
};

/** The table's saved state, or a fresh one when there is none or it no longer fits the table (reason given). */
export function tableState(state: ReplicationState, plan: TablePlan): {table: TableState; reset: string | null} {
  const saved = state.tables[plan.dest];
  if (!saved) return {table: initialTableState(plan), reset: null};
  if (!phaseOf[plan.method].includes(saved.phase) || saved.key !== keySignature(plan)) {
    return {table: initialTableState(plan), reset: `the primary key or cursor column of ${plan.display} changed; reloading it`};
  }
  if (plan.method === 'incremental' && saved.phase === 'full' && saved.after !== null && saved.horizon === undefined) {
    return {table: initialTableState(plan), reset: `${plan.display} became incremental during its load; reloading it`};
  }
  checkPositionLengths(saved, plan);
  return {table: saved, reset: null};
}

/** A saved position has one value per column it refers to; anything else was not written by this connector. */
function checkPositionLengths(saved: TableState, plan: TablePlan): void {
  if (saved.phase === 'pages') return;
  const ordered = (plan.cursor ? 1 : 0) + plan.primaryKey.length;
  const fields: [string, string[] | null | undefined, number][] =
    saved.phase === 'full' ? [['after', saved.after, plan.primaryKey.length], ['start', saved.start, ordered]] : [['position', saved.position, ordered], ['after', saved.after, plan.primaryKey.length]];
  if (saved.phase === 'full') {
    for (const [i, part] of (saved.parts ?? []).entries()) fields.push([`parts[${i}].after`, part.after, plan.primaryKey.length], [`parts[${i}].until`, part.until, plan.primaryKey.length]);
  }
  for (const [field, values, expected] of fields) {
    if (values && values.length !== expected) {
      const columns = field !== 'position' && field !== 'start' ? plan.primaryKey : [...(plan.cursor ? [plan.cursor] : []), ...plan.primaryKey];
      throw new RequestError(
        `the state is not one this connector wrote: state.tables.${plan.dest}.${field} has ${values.length} value(s) but ${plan.display}'s key has ${expected} (${columns.map((c) => c.name).join(', ')}); ${RESET_STATE}`,
      );
    }
  }
}
