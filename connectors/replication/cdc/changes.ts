// From decoded transactions to the rows the warehouse gets, named exactly as the keyset path names them (the
// plan's destination tables and columns), so a row lands the same whichever path wrote it. Tables without a
// primary key (REPLICA IDENTITY FULL) are keyed by `_row_hash`, the md5 of the row's text as the keyset path
// computes it in PostgreSQL (`md5(t::text)`): here from the tuple's text values, quoted as record_out quotes them.
import {createHash} from 'node:crypto';
import {ROW_HASH, type TablePlan} from '../plan.js';
import type {Relation, TupleValue} from './pgoutput.js';
import type {Transaction} from './slot.js';
import {RowJsonWriter, valueJson} from './values.js';

const OPEN = Buffer.from('{');
const CLOSE = Buffer.from('}');

/** One destination row's net change in a transaction; `key` identifies the row within its table. */
export type RowChange =
  /** `json`: the row object's JSON bytes (a view of a RowJsonWriter slab) */
  | {kind: 'upsert'; table: string; key: string; json: Buffer}
  | {kind: 'delete'; table: string; key: string; keys: Record<string, unknown>};

/** A value as record_out writes it inside a row's text: quoted when empty or holding `"`, `\`, `(`, `)`, `,` or C whitespace. */
function recordValue(text: string): string {
  if (text !== '' && !/["\\(),\t\n\v\f\r ]/.test(text)) return text;
  return `"${text.replace(/["\\]/g, (c) => c + c)}"`;
}

/** The text of a row, as `t::text` gives it (NULL as nothing); null when a value is unknown (unchanged TOAST). */
export function recordText(tuple: readonly TupleValue[]): string | null {
  const parts: string[] = [];
  for (const value of tuple) {
    if (value.kind === 'unchanged') return null;
    parts.push(value.kind === 'null' ? '' : recordValue(value.text));
  }
  return `(${parts.join(',')})`;
}

/** The row hash the keyset path writes for a keyless table's row. */
export function rowHash(tuple: readonly TupleValue[]): string | null {
  const text = recordText(tuple);
  return text === null ? null : createHash('md5').update(text, 'utf8').digest('hex');
}

/** Unchanged (TOASTed) values of a new tuple taken from the old row, when the server sent it. */
function filled(tuple: readonly TupleValue[], old: readonly TupleValue[] | undefined): readonly TupleValue[] {
  if (!old || !tuple.some((value) => value.kind === 'unchanged')) return tuple;
  return tuple.map((value, i) => (value.kind === 'unchanged' && old[i] && old[i]!.kind !== 'unchanged' ? old[i]! : value));
}

export class ChangeMapper {
  private readonly plans = new Map<string, TablePlan>();
  /** relations of tables not replicated (or changed since), named once each */
  readonly skipped = new Set<string>();

  constructor(plans: readonly TablePlan[]) {
    for (const plan of plans) this.plans.set(`${plan.source.schema}\u0000${plan.source.name}`, plan);
  }

  planOf(relation: Relation): TablePlan | undefined {
    return this.plans.get(`${relation.schema}\u0000${relation.table}`);
  }

  /** Per relation, the position in its tuples of each primary key column of the plan (-1 when absent). */
  private readonly keyPositions = new WeakMap<Relation, number[]>();

  /**
   * The key of a row: the JSON list of its primary key values, or its row hash; null when the tuple lacks
   * them. `keys` (for a delete) also gives the values by mapped name.
   */
  private keyOf(plan: TablePlan, relation: Relation, tuple: readonly TupleValue[], keys?: Record<string, unknown>): string | null {
    if (plan.primaryKey.length === 0) {
      const hash = rowHash(tuple);
      if (hash !== null && keys) keys[ROW_HASH] = hash;
      return hash;
    }
    let positions = this.keyPositions.get(relation);
    if (!positions) {
      positions = plan.primaryKey.map((column) => relation.columns.findIndex((c) => c.name === column.name));
      this.keyPositions.set(relation, positions);
    }
    let key = '[';
    for (let k = 0; k < positions.length; k++) {
      const index = positions[k]!;
      const value = tuple[index];
      if (index < 0 || !value || value.kind !== 'text') return null;
      const json = valueJson(relation.columns[index]!.typeOid, value.text);
      if (k > 0) key += ',';
      key += json;
      if (keys) keys[plan.primaryKey[k]!.dest] = JSON.parse(json);
    }
    return `${key}]`;
  }

  /** A delete of the row `tuple` keys, or null when it lacks its key. */
  private deleteOf(plan: TablePlan, relation: Relation, tuple: readonly TupleValue[]): RowChange | null {
    const keys: Record<string, unknown> = {};
    const key = this.keyOf(plan, relation, tuple, keys);
    return key === null ? null : {kind: 'delete', table: plan.dest, key, keys};
  }

  /** Whether a row passes the table's filters (region, table_filters), as the keyset path's WHERE would. */
  private passes(plan: TablePlan, relation: Relation, tuple: readonly TupleValue[]): boolean {
    return plan.filters.every(({column, value}) => {
      const index = relation.columns.findIndex((c) => c.name === column.name);
      const found = tuple[index];
      if (!found || found.kind === 'unchanged') return true;
      if (value === null) return found.kind === 'null';
      if (found.kind === 'null') return false;
      if (typeof value === 'boolean') return (found.text === 't') === value;
      if (typeof value === 'number') return Number(found.text) === value;
      return found.text === value;
    });
  }

  /** Per relation (a Relation message describes it once per peek), each column's `"dest":` or null when not replicated. */
  private readonly members = new WeakMap<Relation, (Buffer | null)[]>();
  private readonly writer = new RowJsonWriter();

  private rowJson(plan: TablePlan, relation: Relation, tuple: readonly TupleValue[], key: string): Buffer {
    let members = this.members.get(relation);
    if (!members) {
      members = relation.columns.map((column) => {
        const planned = plan.columns.find((c) => c.name === column.name);
        return planned ? Buffer.from(`${JSON.stringify(planned.dest)}:`) : null;
      });
      this.members.set(relation, members);
    }
    const writer = this.writer;
    writer.begin();
    let first = true;
    if (plan.primaryKey.length === 0) {
      writer.ascii(`{${JSON.stringify(ROW_HASH)}:"${key}"`);
      first = false;
    } else {
      writer.raw(OPEN);
    }
    const columns = relation.columns;
    for (let i = 0; i < columns.length; i++) {
      const value = tuple[i];
      const member = members[i];
      if (!member || !value || value.kind === 'unchanged') continue;
      if (!first) writer.comma();
      writer.raw(member);
      first = false;
      if (value.kind === 'null') writer.null();
      else writer.value(columns[i]!.typeOid, value);
    }
    writer.raw(CLOSE);
    return writer.end();
  }

  /** The replicated tables a TRUNCATE of this transaction emptied, in destination-name order. */
  truncated(transaction: Transaction): TablePlan[] {
    const plans = new Set<TablePlan>();
    for (const change of transaction.changes) {
      if (change.type !== 'truncate') continue;
      for (const relation of change.relations) {
        const plan = this.planOf(relation);
        if (plan) plans.add(plan);
      }
    }
    return [...plans].sort((a, b) => (a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0));
  }

  /**
   * The transaction's net effect: one change per destination row, the last one (a delete then an insert of
   * the same key is the insert), in the order of those last changes. `warn` hears what cannot be replicated.
   */
  changes(transaction: Transaction, warn: (message: string) => void): RowChange[] {
    const net = new Map<string, RowChange>();
    const put = (change: RowChange) => {
      const id = `${change.table}\u0000${change.key}`;
      net.delete(id);
      net.set(id, change);
    };
    for (const change of transaction.changes) {
      // a TRUNCATE carries no rows: the sync reports it, or reloads the table (see truncated)
      if (change.type === 'truncate') continue;
      const plan = this.planOf(change.relation);
      if (!plan) continue;
      if (change.type === 'delete') {
        const removal = this.deleteOf(plan, change.relation, change.old.tuple);
        if (removal) put(removal);
        else warn(`a delete from ${plan.display} carried no key (REPLICA IDENTITY FULL needed?); it was not replicated`);
        continue;
      }
      const tuple = filled(change.tuple, change.old?.tuple);
      const key = this.keyOf(plan, change.relation, tuple);
      if (!key) {
        warn(`a change to ${plan.display} could not be keyed (an unchanged TOASTed value of a table without a primary key); it was not replicated`);
        continue;
      }
      if (change.old) {
        const removal = this.deleteOf(plan, change.relation, change.old.tuple);
        if (removal && removal.key !== key) put(removal);
      }
      if (this.passes(plan, change.relation, tuple)) put({kind: 'upsert', table: plan.dest, key, json: this.rowJson(plan, change.relation, tuple, key)});
    }
    return [...net.values()];
  }
}
