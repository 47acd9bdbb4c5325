import {describe, expect, it} from 'vitest';
import {z} from 'zod';
import {SecretsError} from './errors.js';
import {field, fieldMeta, parseSecrets, secretKeys, secretValues} from './secrets.js';

const schema = z.object({
  host: field.text({label: 'Host'}),
  password: field.secret(),
  port: field.integer({min: 1, max: 65535}).default(5432),
  ratio: field.number().optional(),
  dry_run: field.boolean().default(false),
  filters: field.json(z.record(z.string(), z.record(z.string(), z.string()))).default({}),
  mode: field.enum(['a', 'b']).default('a'),
  tables: field.list().default([]),
});

describe('parseSecrets', () => {
  it('accepts Fivetran string values for numbers, booleans, JSON and lists', () => {
    const {secrets} = parseSecrets(schema, {host: ' db ', password: 'pw1', port: '6543', ratio: '0.5', dry_run: 'true', filters: '{"orders":{"status":"paid"}}', tables: 'a, b,,c'});
    expect(secrets).toEqual({host: 'db', password: 'pw1', port: 6543, ratio: 0.5, dry_run: true, filters: {orders: {status: 'paid'}}, mode: 'a', tables: ['a', 'b', 'c']});
  });

  it('accepts native JSON values and applies defaults for absent and empty keys', () => {
    const {secrets} = parseSecrets(schema, {host: 'db', password: 'pw1', port: 5433, dry_run: false, filters: {t: {c: 'v'}}, tables: '["x"]', mode: ''});
    expect(secrets).toMatchObject({port: 5433, dry_run: false, filters: {t: {c: 'v'}}, tables: ['x'], mode: 'a'});
  });

  it.each([
    [{host: 'db', password: 'pw1', port: 'abc'}, 'port must be'],
    [{host: 'db', password: 'pw1', port: '0'}, 'port must be at least 1'],
    [{host: 'db', password: 'pw1', port: '5.5'}, 'port must be an integer'],
    [{host: 'db', password: 'pw1', dry_run: 'maybe'}, 'dry_run must be true or false'],
    [{host: 'db', password: 'pw1', filters: '{not json'}, 'filters must be valid JSON'],
    [{host: 'db', password: 'pw1', mode: 'c'}, 'mode must be one of a, b'],
    [{password: 'pw1'}, 'host is required'],
  ])('rejects %j with "%s"', (raw, message) => {
    expect(() => parseSecrets(schema, raw)).toThrow(SecretsError);
    expect(() => parseSecrets(schema, raw)).toThrow(message);
  });

  it('lists every bad key in one message and never a value', () => {
    try {
      parseSecrets(schema, {port: 'secret-looking-port', dry_run: 'secret-looking-flag'});
      expect.unreachable();
    } catch (error) {
      const message = (error as Error).message;
      for (const key of ['host is required', 'password is required', 'port must be', 'dry_run must be']) expect(message).toContain(key);
      expect(message).not.toContain('secret-looking');
    }
  });

  it('reports unknown keys by name', () => {
    expect(parseSecrets(schema, {host: 'db', password: 'pw1', hots: 'x'}).unknownKeys).toEqual(['hots']);
  });

  it('knows which keys are secret and their values for redaction', () => {
    expect(secretKeys(schema)).toEqual(['password']);
    expect(secretValues(schema, {password: 'pw1', host: 'db'})).toEqual(['pw1']);
    expect(fieldMeta(schema.shape.port)).toMatchObject({kind: 'integer'});
    expect(fieldMeta(schema.shape.host)).toMatchObject({kind: 'text', label: 'Host'});
  });
});
