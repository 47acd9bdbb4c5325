// defineConnector: the protocol-neutral connector model. A connector declares its secrets and its state
// (zod), its tables, a setup `test` and a `sync` generator; adapters (Cloud Functions HTTP, Partner SDK gRPC,
// the local emulator) turn it into a transport. Nothing here holds data between calls.
import type {z} from 'zod';
import type {BudgetView} from './budget.js';
import type {Logger} from './log.js';
import type {RecordsOutput} from './partner-sdk/record-rows.js';
import type {SecretsSchema} from './secrets.js';
import {AnyState, type StateSchema} from './state.js';
import type {Emit, State, TableSpec} from './types.js';

export interface TestContext<S> {
  secrets: S;
  log: Logger;
  signal: AbortSignal;
}

export interface SyncContext<S, St = State> extends TestContext<S> {
  /** the state of the last committed response, parsed with the connector's `state` schema ({} on the first sync) */
  state: St;
  /** the call's budgets, read-only: when a checkpoint is due, how much a batch may hold (see BudgetView) */
  budget: BudgetView;
  syncId: string | undefined;
  /**
   * Set by the Partner SDK adapter only: rows can be written as `Record` bytes (`upsertRecords`) instead of
   * JSON, for a connector whose values come in a binary form of their own. Undefined on the Function path.
   */
  records?: RecordsOutput;
}

export interface SetupTest {
  name: string;
  label: string;
}

export interface ConnectorDefinition<Schema extends SecretsSchema, StateS extends StateSchema = typeof AnyState> {
  /** folder name under connectors/ (snake_case) */
  name: string;
  description?: string;
  secrets: Schema;
  /**
   * The state to resume from (zod): `ctx.state` and `checkpoint()` take its type; its defaults make the
   * first sync's state from {}. A state that does not parse is refused before `sync` runs (sdk/state.ts).
   */
  state?: StateS;
  /** tables known ahead of time; others may be declared during sync with `declareTable` */
  tables?: Readonly<Record<string, TableSpec>>;
  /** setup tests listed in configuration forms; `test` runs them all (or the named one) */
  setupTests?: SetupTest[];
  /** the setup test: credentials and connectivity. Throw a ConnectorError with a clear message on failure. */
  test(ctx: TestContext<z.infer<Schema>> & {testName?: string}): Promise<void>;
  /** emits records and checkpoints; resumes from `ctx.state` */
  sync(ctx: SyncContext<z.infer<Schema>, z.infer<StateS>>): AsyncIterable<Emit<z.infer<StateS>>>;
  /**
   * Optional: the tables a sync would declare at run time (`declareTable`), found without syncing (e.g. from a
   * source catalog), merged over `tables`. The Partner SDK `Schema` call lists them so people can select them.
   */
  discover?(ctx: TestContext<z.infer<Schema>>): Promise<Record<string, TableSpec>>;
}

export interface Connector<Schema extends SecretsSchema = SecretsSchema, StateS extends StateSchema = StateSchema> extends ConnectorDefinition<Schema, StateS> {
  state: StateS;
  tables: Readonly<Record<string, TableSpec>>;
  setupTests: SetupTest[];
}

const NAME_RULE = /^[a-z][a-z0-9_]{0,62}$/;

export function defineConnector<Schema extends SecretsSchema, StateS extends StateSchema = typeof AnyState>(
  definition: ConnectorDefinition<Schema, StateS>,
): Connector<Schema, StateS> {
  if (!NAME_RULE.test(definition.name)) {
    throw new Error(`connector name "${definition.name}" must be snake_case: a lowercase letter, then lowercase letters, digits or _ (at most 63)`);
  }
  return {
    ...definition,
    state: definition.state ?? (AnyState as unknown as StateS),
    tables: definition.tables ?? {},
    setupTests: definition.setupTests ?? [{name: 'connection', label: 'Check the credentials and connectivity'}],
  };
}
