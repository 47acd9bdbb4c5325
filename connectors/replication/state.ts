// The connector's state: which pass (one per sync) it is in, which table of the pass it is on, and per table
// its phase and keyset position. Kept small: key values as text, transaction horizons as text.
import * as z from 'zod';
import {RequestError, type JsonObject, type State} from '../../sdk/index.js';
import type {ReadMethod, TablePlan} from './plan.js';

/** Initial load (incremental tables) or the every-sync re-read (tables without a cursor): primary key order. */
export interface KeyLoadState {
  phase: 'full';
  /** primary key of the last row read, or null at the start */
  after: string[] | null;
  /** incremental tables only: the snapshot horizon and the largest (cursor, key) when the load began */
  horizon?: string;
  start?: string[] | null;
  /** cursor and key columns the position refers to; a different configuration restarts the load */
  key: string;
}

export interface IncrementalState {
  phase: 'incremental';
  /** (cursor, primary key) of the last row read */
  position: string[] | null;
  /** rows whose xmin is at or after this transaction id may have been invisible to the reads so far */
  horizon: string;
  /** this pass: first the late-commit sweep, then the cursor scan */
  step: 'sweep' | 'scan';
  /** sweep position (primary key) */
  after: string[] | null;
  /** the horizon at the start of this pass, for the next pass's sweep */
  next_horizon: string | null;
  key: string;
}

/** Tables without a primary key: ctid page ranges, every sync from page 0. */
export interface PageState {
  phase: 'pages';
  page: number;
  key: string;
}

export type TableState = (KeyLoadState | IncrementalState | PageState) & {
  /** measured JSON bytes per row, so the next call sizes its first batch without a probe */
  width?: number;
};

export interface ReplicationState {
  version: 1;
  /** one pass per sync: every table once */
  pass: number;
  /** destination table the pass is on; null when the pass has not started (metadata not yet emitted) */
  table: string | null;
  /** while the pass has not started: the destination table whose metadata rows were emitted last */
  metadata_after?: string;
  tables: Record<string, TableState>;
}

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
  for (const [field, values, expected] of fields) {
    if (values && values.length !== expected) {
      const columns = field === 'after' ? plan.primaryKey : [...(plan.cursor ? [plan.cursor] : []), ...plan.primaryKey];
      throw new RequestError(
        `the state is not one this connector wrote: state.tables.${plan.dest}.${field} has ${values.length} value(s) but ${plan.display}'s key has ${expected} (${columns.map((c) => c.name).join(', ')}); ${RESET_STATE}`,
      );
    }
  }
}

const keyValues = z.array(z.string(), {error: 'must be a list of key values as text, or null'}).nullable();
const xid = z.string().regex(/^\d+$/, {error: 'must be a transaction id (digits, as text)'});
const width = z.number().nonnegative().optional();
const key = z.string();
const TableStateSchema = z.discriminatedUnion(
  'phase',
  [
    z.strictObject({phase: z.literal('full'), after: keyValues, horizon: xid.optional(), start: keyValues.optional(), key, width}),
    z.strictObject({phase: z.literal('incremental'), position: keyValues, horizon: xid, step: z.enum(['sweep', 'scan']), after: keyValues, next_horizon: xid.nullable(), key, width}),
    z.strictObject({phase: z.literal('pages'), page: z.number().int().nonnegative(), key, width}),
  ],
  {error: 'must have "phase" "full", "incremental" or "pages"'},
);
const StateSchema = z.strictObject({
  version: z.literal(1, {error: 'must be 1'}),
  pass: z.number().int().positive(),
  table: z.string().nullable(),
  metadata_after: z.string().optional(),
  tables: z.record(z.string(), TableStateSchema),
});

/** What to do about a state this connector cannot resume from. */
export const RESET_STATE =
  "reset the connection's state (in Fivetran: the connection's Setup tab, Resync all historical data; or PATCH /v1/connections/{id}/state with {\"state\": {}}), and the next sync starts afresh";

/**
 * Reads a state Fivetran sent back: {} (the first sync) starts afresh; anything else must be a state this
 * connector wrote. A state that does not parse, or one written by another connector, is refused with the
 * field that is wrong: resuming from a guess would skip or repeat rows.
 */
export function readState(raw: State): ReplicationState {
  if (!raw || Object.keys(raw).length === 0) return {version: 1, pass: 1, table: null, tables: {}};
  const parsed = StateSchema.safeParse(raw);
  if (parsed.success) return {...(parsed.data as ReplicationState), tables: {...(parsed.data.tables as Record<string, TableState>)}};
  if (!('version' in raw) || !('tables' in raw)) {
    const keys = Object.keys(raw).slice(0, 5).map((k) => `"${k}"`).join(', ');
    throw new RequestError(`the state is not a replication state (it has ${keys} and no "version" and "tables"): it was written by another connector or by hand; ${RESET_STATE}`);
  }
  const issue = parsed.error.issues[0]!;
  const where = ['state', ...issue.path.map(String)].join('.');
  const what = issue.code === 'unrecognized_keys' ? `has unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message.replace(/^Invalid input: /, '');
  throw new RequestError(`the state is not one this connector wrote: ${where} ${what}; ${RESET_STATE}`);
}

export function toJson(state: ReplicationState): JsonObject {
  return state as unknown as JsonObject;
}
