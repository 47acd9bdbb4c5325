// The Partner SDK configuration form, derived from a connector's secrets schema: one declaration (zod +
// `field.*` metadata) gives labels, descriptions, required flags, password fields for secret keys, dropdowns
// for enums, toggles for booleans and defaults. A discriminated union (or an object intersected with one)
// becomes a dropdown/toggle on the discriminator with each variant's own fields as conditional fields.
import type {z} from 'zod';
import type {Connector} from '../connector.js';
import {fieldMeta, type FieldMeta} from '../secrets.js';
import type {ConfigurationFormResponse} from './generated/fivetran_sdk/v2/ConfigurationFormResponse.js';
import type {FormField} from './generated/fivetran_sdk/v2/FormField.js';

interface ZodDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
  discriminator?: string;
  left?: z.ZodType;
  right?: z.ZodType;
  values?: unknown[];
  entries?: Record<string, string | number>;
  defaultValue?: unknown;
}

function defOf(schema: z.ZodType): ZodDef {
  return (schema as unknown as {_zod: {def: ZodDef}})._zod.def;
}

/** Optional, default, nullable, readonly and pipe (preprocess) wrappers, peeled to the schema that holds the value. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (let depth = 0; depth < 10; depth++) {
    const def = defOf(current);
    const next = def.innerType ?? (def.type === 'pipe' ? (defOf(def.in as z.ZodType).type === 'transform' ? def.out : def.in) : undefined);
    if (!next) return current;
    current = next;
  }
  return current;
}

function defaultOf(schema: z.ZodType): unknown {
  let current: z.ZodType | undefined = schema;
  for (let depth = 0; current && depth < 10; depth++) {
    const def = defOf(current);
    if (def.type === 'default' || def.type === 'prefault') return def.defaultValue;
    current = def.innerType ?? def.in;
  }
  return undefined;
}

function isRequired(schema: z.ZodType): boolean {
  const optin = (schema as unknown as {_zod: {optin?: string}})._zod.optin;
  return optin !== 'optional' && optin !== 'defaulted';
}

function describeDefault(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  // An empty list is the same as an empty field: no default worth showing.
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.every((item) => typeof item === 'string') ? value.join(',') : JSON.stringify(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `ssl_root_cert` → `SSL root cert`: a fallback label for fields declared without one. */
export function humanize(key: string): string {
  // libpq's run-together names, which splitting on _ cannot separate
  const known: Record<string, string> = {sslmode: 'SSL mode', sslrootcert: 'SSL root certificate', sslcert: 'SSL certificate', sslkey: 'SSL key'};
  const words = key.split(/[_\s]+/).filter(Boolean).map((word) => known[word.toLowerCase()] ?? word);
  const acronyms = new Set(['id', 'url', 'ssl', 'api', 'sql', 'ip', 'tls', 'db', 'json', 'ca']);
  const text = words.map((word) => (acronyms.has(word.toLowerCase()) ? word.toUpperCase() : word)).join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function enumOptions(core: z.ZodType): string[] | undefined {
  const def = defOf(core);
  if (def.type === 'enum' && def.entries) return Object.values(def.entries).map(String);
  if (def.type === 'literal' && def.values) return def.values.map(String);
  return undefined;
}

function inferKind(core: z.ZodType): FieldMeta['kind'] {
  const type = defOf(core).type;
  if (type === 'boolean') return 'boolean';
  if (type === 'enum') return 'enum';
  if (type === 'number' || type === 'int') return 'number';
  if (type === 'object' || type === 'record' || type === 'array') return 'json';
  return 'text';
}

/** One form field for one key of the secrets schema. */
export function formField(key: string, schema: z.ZodType, required = isRequired(schema)): FormField {
  const meta = fieldMeta(schema) ?? {};
  const core = unwrap(schema);
  const kind = meta.kind ?? inferKind(core);
  const description = meta.description ?? schema.description ?? core.description;
  const defaultValue = describeDefault(defaultOf(schema));
  const field: FormField = {name: key, label: meta.label ?? humanize(key), required};
  if (description) field.description = description;
  if (defaultValue !== undefined) field.default_value = defaultValue;
  if (meta.placeholder) field.placeholder = meta.placeholder;
  if (meta.secret || kind === 'secret') {
    field.text_field = 'Password';
  } else if (kind === 'boolean') {
    field.toggle_field = {};
  } else if (kind === 'enum') {
    field.dropdown_field = {dropdown_field: [...(meta.options ?? enumOptions(core) ?? [])]};
  } else {
    field.text_field = 'PlainText';
  }
  return field;
}

function variantsOf(core: z.ZodType): {discriminator: string; options: z.ZodType[]} | undefined {
  const def = defOf(core);
  if (def.type !== 'union' || !def.options) return undefined;
  const objects = def.options.map(unwrap);
  if (!objects.every((option) => defOf(option).type === 'object')) return undefined;
  const discriminator =
    def.discriminator ??
    Object.keys(defOf(objects[0] as z.ZodType).shape ?? {}).find((key) =>
      objects.every((option) => {
        const fieldSchema = defOf(option).shape?.[key];
        return fieldSchema !== undefined && defOf(unwrap(fieldSchema)).type === 'literal';
      }),
    );
  return discriminator ? {discriminator, options: objects} : undefined;
}

function variantFields(discriminator: string, options: z.ZodType[]): FormField[] {
  const shapes = options.map((option) => defOf(option).shape ?? {});
  const first = shapes[0] ?? {};
  const values = shapes.map((shape) => (defOf(unwrap(shape[discriminator] as z.ZodType)).values ?? []).map((value) => value as string | boolean));
  const allValues = values.flat();
  const booleans = allValues.every((value) => typeof value === 'boolean');
  const discriminatorSchema = first[discriminator] as z.ZodType;
  const selector = formField(discriminator, discriminatorSchema, true);
  delete selector.text_field;
  delete selector.dropdown_field;
  if (booleans) selector.toggle_field = {};
  else selector.dropdown_field = {dropdown_field: allValues.map(String)};

  // Keys in every variant are plain fields; the rest show only when the discriminator has their variant's value.
  const common = Object.keys(first).filter((key) => key !== discriminator && shapes.every((shape) => key in shape));
  const fields: FormField[] = [selector];
  for (const key of common) fields.push(formField(key, first[key] as z.ZodType, shapes.every((shape) => isRequired(shape[key] as z.ZodType))));
  shapes.forEach((shape, index) => {
    const own = Object.keys(shape).filter((key) => key !== discriminator && !common.includes(key));
    if (!own.length) return;
    for (const value of values[index] ?? []) {
      const condition = typeof value === 'boolean' ? {condition_field: discriminator, bool_value: value} : {condition_field: discriminator, string_value: String(value)};
      fields.push({
        name: `${discriminator}_${String(value)}_fields`,
        label: `${selector.label}: ${String(value)}`,
        conditional_fields: {condition, fields: own.map((key) => formField(key, shape[key] as z.ZodType))},
      });
    }
  });
  return fields;
}

/** The form fields of a secrets schema: an object, a discriminated union of objects, or their intersection. */
export function formFields(schema: z.ZodType): FormField[] {
  const core = unwrap(schema);
  const def = defOf(core);
  if (def.type === 'object') return Object.entries(def.shape ?? {}).map(([key, fieldSchema]) => formField(key, fieldSchema));
  if (def.type === 'intersection' && def.left && def.right) return [...formFields(def.left), ...formFields(def.right)];
  const variants = variantsOf(core);
  if (variants) return variantFields(variants.discriminator, variants.options);
  throw new Error('a secrets schema must be a zod object, a discriminated union of objects, or an intersection of those');
}

/** The ConfigurationForm answer: the fields and the connector's setup tests. */
export function configurationForm(connector: Connector): ConfigurationFormResponse {
  return {
    // Our connectors write to one destination schema (the Function model has no source schemas): tables only.
    schema_selection_supported: false,
    table_selection_supported: true,
    fields: formFields(connector.secrets),
    tests: connector.setupTests.map((test) => ({name: test.name, label: test.label})),
  };
}
