// Test scaffolding: Fivetran's side of the Function protocol in miniature. It calls the connector through
// the real Function adapter until hasMore is false and applies each response to an in-memory warehouse the
// way Fivetran does (upsert by primary key), keeping the state of every committed response.
import {handleFunctionCall, type CallOptions, type FunctionResponse, type Row} from '../../../sdk/index.js';
import {post} from '../../../test/support/bundled-function.js';
import type {TestDatabase} from '../../../test/support/postgres.js';
import {connector} from '../index.js';

export class Warehouse {
  readonly tables = new Map<string, Map<string, Row>>();

  apply(response: FunctionResponse): void {
    for (const [table, rows] of Object.entries(response.insert)) {
      const key = response.schema[table]?.primary_key;
      if (!key?.length) throw new Error(`response inserts into ${table} without a primary key in schema`);
      let stored = this.tables.get(table);
      if (!stored) this.tables.set(table, (stored = new Map()));
      for (const row of rows) stored.set(JSON.stringify(key.map((c) => row[c])), row);
    }
  }

  rows(table: string): Row[] {
    return [...(this.tables.get(table)?.values() ?? [])];
  }

  clone(): Warehouse {
    const copy = new Warehouse();
    for (const [table, rows] of this.tables) copy.tables.set(table, new Map(rows));
    return copy;
  }

  /** A canonical text of the replicated tables (not the per-call replication_runs). */
  snapshot(): string {
    const out: Record<string, unknown> = {};
    for (const [table, rows] of [...this.tables].sort(([a], [b]) => a.localeCompare(b))) {
      if (table === 'replication_runs') continue;
      out[table] = [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, row]) => row);
    }
    return JSON.stringify(out);
  }
}

export interface CallRecord {
  stateIn: Record<string, unknown>;
  status: number;
  body: string;
  response?: FunctionResponse;
}

export function sourceSecrets(db: TestDatabase, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {host: db.host, port: String(db.port), database: db.database, username: db.user, password: db.password, sslmode: 'disable', retry_sleep_seconds: '0.01', ...extra};
}

/** Runs one sync: calls until hasMore is false (or a call fails), applying every 200 to the warehouse. */
export async function runSync(
  secrets: Record<string, unknown>,
  state: Record<string, unknown>,
  warehouse: Warehouse,
  options: CallOptions & {maxCalls?: number; beforeCall?: (call: number) => Promise<void> | void; url?: string} = {},
): Promise<{state: Record<string, unknown>; calls: CallRecord[]}> {
  const calls: CallRecord[] = [];
  let current = state;
  for (let n = 0; n < (options.maxCalls ?? 1000); n++) {
    await options.beforeCall?.(n);
    const request = {state: current, secrets, sync_id: 'test-sync'};
    // over HTTP to a served function when `url` is given (large responses then arrive streamed), else in-process
    const result = options.url ? await post(options.url, request) : await handleFunctionCall(connector, request, {sink: () => undefined, ...options});
    const record: CallRecord = {stateIn: current, status: result.status, body: result.body};
    calls.push(record);
    if (result.status !== 200) return {state: current, calls};
    const response = JSON.parse(result.body) as FunctionResponse;
    record.response = response;
    warehouse.apply(response);
    current = response.state;
    if (!response.hasMore) return {state: current, calls};
  }
  throw new Error('the sync did not finish within maxCalls');
}
