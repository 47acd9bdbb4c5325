// The one policy for the state Fivetran sends back. A connector declares its state as a zod schema; the
// adapters parse every state with it before `sync` runs, so `ctx.state` is typed. The first sync sends {}:
// the schema's defaults make the initial state. A state that does not parse is refused with a one-line 400
// naming the field and how to reset the state: resuming from a guess would skip or repeat rows.
import * as z from 'zod';
import {RequestError} from './errors.js';
import type {State} from './types.js';

/** A connector's state schema: parses the JSON object Fivetran stores (and `{}` on the first sync). */
export type StateSchema = z.ZodType<object>;

/** A connector without a state schema gets the state as sent. */
export const AnyState = z.custom<State>(() => true);

/** What to do about a state this connector cannot resume from. */
export const RESET_STATE =
  "reset the connection's state (in Fivetran: the connection's Setup tab, Resync all historical data; or PATCH /v1/connections/{id}/state with {\"state\": {}}), and the next sync starts afresh";

/** The fields of an object schema, seen through refinements and a preprocess step; null for other schemas. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | null {
  const candidate = schema as unknown as {shape?: Record<string, z.ZodType>; out?: {shape?: Record<string, z.ZodType>}};
  return candidate.shape ?? candidate.out?.shape ?? null;
}

/** The keys a state the connector wrote always has: the fields that are neither optional nor defaulted. */
function requiredKeys(shape: Record<string, z.ZodType>): string[] {
  return Object.entries(shape)
    .filter(([, field]) => !field.safeParse(undefined).success)
    .map(([key]) => key);
}

const quoted = (keys: readonly string[]) => keys.map((key) => `"${key}"`);
const listed = (keys: readonly string[]) => {
  const items = quoted(keys);
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items.at(-1)}` : items.join('');
};

/**
 * Parses a state Fivetran sent back with the connector's schema. A state sharing no key with the schema was
 * written by another connector or by hand; any other state that does not parse names its first bad field.
 */
export function parseState<Schema extends StateSchema>(connectorName: string, schema: Schema, raw: State): z.infer<Schema> {
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data as z.infer<Schema>;
  const keys = Object.keys(raw ?? {});
  const shape = objectShape(schema);
  if (keys.length > 0 && shape && !keys.some((key) => key in shape)) {
    const expected = requiredKeys(shape);
    const has = quoted(keys.slice(0, 5)).join(', ');
    throw new RequestError(
      `the state is not a ${connectorName} state (it has ${has} and no ${listed(expected.length ? expected : Object.keys(shape))}): it was written by another connector or by hand; ${RESET_STATE}`,
    );
  }
  const issue = parsed.error.issues[0]!;
  const where = ['state', ...issue.path.map(String)].join('.');
  const what = issue.code === 'unrecognized_keys'
    ? `has unknown key${issue.keys.length > 1 ? 's' : ''} ${quoted(issue.keys).join(', ')}`
    : issue.message.replace(/^Invalid input: /, '');
  throw new RequestError(`the state is not one this connector wrote: ${where} ${what}; ${RESET_STATE}`);
}
