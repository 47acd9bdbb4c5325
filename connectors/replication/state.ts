// The connector's state: which pass (one per sync) it is in, which table of the pass it is on, and per table
// its phase and keyset position. Kept small: key values as text, transaction horizons as text.
import type {JsonObject, State} from '../../sdk/index.js';
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
  return {table: saved, reset: null};
}

/** Reads a state Fivetran sent back; {} (the first sync) or anything unrecognised starts afresh. */
export function readState(raw: State): ReplicationState {
  if (raw && raw.version === 1 && typeof raw.pass === 'number' && typeof raw.tables === 'object' && raw.tables !== null) {
    return {
      version: 1,
      pass: raw.pass,
      table: typeof raw.table === 'string' ? raw.table : null,
      tables: {...(raw.tables as unknown as Record<string, TableState>)},
    };
  }
  return {version: 1, pass: 1, table: null, tables: {}};
}

export function toJson(state: ReplicationState): JsonObject {
  return state as unknown as JsonObject;
}
