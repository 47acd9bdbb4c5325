// The contract between `./fivetran demo` and each connector's demo script (connectors/<name>/demo.ts), beside
// the SDK so that connectors never import the emulator (types only: sdk/index.ts exports them).
// The demo starts the services (embedded PostgreSQL, the Fivetran API simulator, the DuckDB warehouse),
// then, for every function in deploy.yaml, imports its connector's demo.ts and calls `demo(ctx)`.
// A connector's demo prepares its source, runs one or more syncs through ctx.sync, and prints what
// happened with ctx.print. It throws to report a failure (the demo then exits non-zero).
// Before demo(ctx), ./fivetran demo runs sql/<connector>/setup_postgres.sql on the function's database when
// that file exists (so it must be safe to run twice), and prints one line per ctx.sync.

export interface DemoPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  /** a database created for this function alone */
  database: string;
  /** postgres://... URL of that database */
  url: string;
}

export interface DemoApi {
  /** base URL of the Fivetran REST API simulator (pass as fivetran_api_url) */
  url: string;
  apiKey: string;
  apiSecret: string;
  /** ids of connections the simulator knows, to point freshness at or to trigger */
  connectionIds: string[];
}

/**
 * The Fivetran API simulator's control hooks a demo may use (emulator/api-simulator.ts, which has more); each
 * takes a connection id and throws on an unknown one.
 */
export interface DemoSimulator {
  now(): number;
  advance(ms: number): void;
  connection(id: string): Record<string, unknown>;
  failNextSync(id: string, message?: string): void;
  markBroken(id: string, message?: string): void;
  markDelayed(id: string): void;
  markPaused(id: string, paused?: boolean): void;
  markRescheduled(id: string, untilMs: number): void;
  markHealthy(id: string): void;
  setSyncDuration(ms: number, id?: string): void;
  setState(id: string, state: Record<string, unknown>): void;
  getState(id: string): Record<string, unknown>;
  requestCount(key?: string): number;
}

export interface DemoSyncResult {
  calls: number;
  /** rows upserted per table over the whole sync */
  rows: Record<string, number>;
  deletes: Record<string, number>;
  state: Record<string, unknown>;
  durationMs: number;
}

export interface DemoContext {
  /** the deploy.yaml function being demonstrated */
  functionName: string;
  connector: string;
  root: string;
  postgres: DemoPostgres;
  api: DemoApi;
  /** runs a full sync (all calls while hasMore) into the warehouse schema of this function */
  sync(secrets: Record<string, unknown>, options?: {label?: string}): Promise<DemoSyncResult>;
  /** runs SQL on the DuckDB warehouse and returns rows as objects */
  warehouse(sql: string): Promise<Record<string, unknown>[]>;
  /** the warehouse schema this function writes to */
  schema: string;
  /** prints one indented line under the function's heading */
  print(line: string): void;
  // optional additions: ./fivetran demo always provides them; other callers of a demo script may not
  /** runs a SQL file (a path under sql/, e.g. "freshness/extra.sql", or relative to the project root) on this function's database */
  runSqlFile?(file: string): Promise<void>;
  /** the running API simulator, for its control hooks (failNextSync, markBroken, markDelayed, ...) */
  simulator?: DemoSimulator;
}

export type DemoScript = (ctx: DemoContext) => Promise<void>;
