// Secrets: one zod declaration gives the TypeScript type, runtime validation with messages that name the key
// (never its value), the list of secret keys to redact, and the Partner SDK configuration form.
// Fivetran's key/value form sends every value as a string, so numbers, booleans and JSON objects are accepted
// both as strings ("5432", "true", "{}") and as native JSON values.
// a namespace import, so that bundles keep only the parts of zod used (esbuild drops the rest)
import * as z from 'zod';
import {SecretsError} from './errors.js';

export interface FieldMeta {
  label?: string;
  description?: string;
  /** redacted from logs, errors and responses; a password field in configuration forms */
  secret?: boolean;
  placeholder?: string;
  /** the field's kind for configuration forms */
  kind?: 'text' | 'secret' | 'integer' | 'number' | 'boolean' | 'json' | 'enum' | 'list';
  options?: readonly string[];
}

/** Metadata of every field built with `field.*`. */
export const fieldRegistry = z.registry<FieldMeta>();

function withMeta<T extends z.ZodType>(schema: T, meta: FieldMeta): T {
  fieldRegistry.add(schema, meta);
  return schema;
}

function parseNumber(value: unknown): unknown {
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value.trim()))) return Number(value.trim());
  return value;
}

function parseBoolean(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(v)) return true;
  if (['false', 'no', '0', 'off'].includes(v)) return false;
  return value;
}

function parseJson(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    ctx.addIssue({code: 'custom', message: 'must be valid JSON'});
    return z.NEVER;
  }
}

function parseList(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (text.startsWith('[')) return parseJson(text, ctx);
  return text.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

type Meta = Omit<FieldMeta, 'kind' | 'secret' | 'options'>;

/** Field builders for secrets schemas. Wrap with `.optional()` or `.default(x)` outside, as usual with zod. */
export const field = {
  text: (meta: Meta = {}) => withMeta(z.string({error: 'must be a string'}).trim().min(1, {error: 'must not be empty'}), {...meta, kind: 'text'}),
  secret: (meta: Meta = {}) => withMeta(z.string({error: 'must be a string'}).min(1, {error: 'must not be empty'}), {...meta, kind: 'secret', secret: true}),
  integer: (meta: Meta & {min?: number; max?: number} = {}) => {
    let inner = z.number({error: 'must be an integer'}).int({error: 'must be an integer'});
    if (meta.min !== undefined) inner = inner.min(meta.min, {error: `must be at least ${meta.min}`});
    if (meta.max !== undefined) inner = inner.max(meta.max, {error: `must be at most ${meta.max}`});
    return withMeta(z.preprocess(parseNumber, inner), {...meta, kind: 'integer'});
  },
  number: (meta: Meta & {min?: number; max?: number} = {}) => {
    let inner = z.number({error: 'must be a number'});
    if (meta.min !== undefined) inner = inner.min(meta.min, {error: `must be at least ${meta.min}`});
    if (meta.max !== undefined) inner = inner.max(meta.max, {error: `must be at most ${meta.max}`});
    return withMeta(z.preprocess(parseNumber, inner), {...meta, kind: 'number'});
  },
  boolean: (meta: Meta = {}) => withMeta(z.preprocess(parseBoolean, z.boolean({error: 'must be true or false'})), {...meta, kind: 'boolean'}),
  json: <T extends z.ZodType>(schema: T, meta: Meta = {}) =>
    withMeta(z.preprocess(parseJson, schema), {...meta, kind: 'json'}),
  /** JSON holding credentials (e.g. a list of databases with passwords): redacted everywhere, as `secret` is */
  secretJson: <T extends z.ZodType>(schema: T, meta: Meta = {}) =>
    withMeta(z.preprocess(parseJson, schema), {...meta, kind: 'json', secret: true}),
  enum: <const V extends readonly [string, ...string[]]>(values: V, meta: Meta = {}) =>
    withMeta(z.enum(values, {error: `must be one of ${values.join(', ')}`}), {...meta, kind: 'enum', options: values}),
  list: (meta: Meta = {}) =>
    withMeta(z.preprocess(parseList, z.array(z.string({error: 'must be a list of names'}), {error: 'must be a comma-separated list or a JSON array of names'})), {...meta, kind: 'list'}),
};

/** Unwraps optional/default/pipe wrappers to find a field's metadata. */
export function fieldMeta(schema: z.ZodType): FieldMeta | undefined {
  let current: z.ZodType | undefined = schema;
  for (let depth = 0; current && depth < 8; depth++) {
    const meta = fieldRegistry.get(current);
    if (meta) return meta;
    const def: {innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType} = (current as unknown as {_zod: {def: {innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType}}})._zod.def;
    current = def.innerType ?? def.out ?? def.in;
  }
  return undefined;
}

export type SecretsSchema = z.ZodObject<z.ZodRawShape>;

/** The keys whose values are secret (redacted everywhere). */
export function secretKeys(schema: SecretsSchema): string[] {
  return Object.entries(schema.shape)
    .filter(([, fieldSchema]) => fieldMeta(fieldSchema as z.ZodType)?.secret)
    .map(([key]) => key);
}

/** Every string value under a secret key, as sent (before parsing), for redaction. */
export function secretValues(schema: SecretsSchema, raw: Record<string, unknown>): string[] {
  const values: string[] = [];
  for (const key of secretKeys(schema)) {
    const value = raw[key];
    if (typeof value === 'string' && value !== '') values.push(value);
    else if (value !== undefined && value !== null && typeof value !== 'string') values.push(JSON.stringify(value));
  }
  return values;
}

export interface ParsedSecrets<T> {
  secrets: T;
  /** keys sent that the connector does not know (likely typos); names only */
  unknownKeys: string[];
}

/**
 * Validates raw secrets. Empty strings count as absent (Fivetran's form leaves unused keys empty).
 * Throws SecretsError naming every bad key and what it expects; values never appear in the message.
 */
export function parseSecrets<S extends SecretsSchema>(schema: S, raw: unknown): ParsedSecrets<z.infer<S>> {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SecretsError('secrets must be a JSON object of key/value pairs; set them in the connection setup form');
  }
  const cleaned: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value === '' || value === null) continue;
    cleaned[key] = value;
  }
  // a NUL character is refused by PostgreSQL, HTTP headers and most APIs, deep inside a connector as a 500
  const withNul = Object.keys(cleaned).filter((key) => hasNul(cleaned[key])).sort();
  if (withNul.length) {
    throw new SecretsError(`Invalid secrets: ${withNul.map((key) => `${key} contains a NUL character (\\u0000)`).join('; ')}. Fix these keys in the connection's secrets.`);
  }
  const known = new Set(Object.keys(schema.shape));
  const unknownKeys = Object.keys(cleaned).filter((key) => !known.has(key)).sort();
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const problems = new Map<string, string>();
    for (const issue of result.error.issues) {
      const key = issue.path.length ? issue.path.map(String).join('.') : '(secrets)';
      if (problems.has(key)) continue;
      const top = String(issue.path[0] ?? '');
      const missing = issue.path.length === 1 && cleaned[top] === undefined;
      problems.set(key, missing ? 'is required' : describeIssue(issue));
    }
    const list = [...problems.entries()].map(([key, problem]) => `${key} ${problem}`).join('; ');
    throw new SecretsError(`Invalid secrets: ${list}. Fix these keys in the connection's secrets.`);
  }
  return {secrets: result.data as z.infer<S>, unknownKeys};
}

function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (typeof value === 'object' && value !== null) return Object.values(value).some(hasNul);
  return false;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  // zod's default messages may quote the received value; ours never do. Keep only value-free messages.
  const message = issue.message.replace(/,?\s*received\s+.*$/i, '').trim();
  if (/^Invalid input/i.test(message)) {
    return message.replace(/^Invalid input:?\s*/i, '').replace(/^expected/, 'must be') || 'is invalid';
  }
  return message;
}
