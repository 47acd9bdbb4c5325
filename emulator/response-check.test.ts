import {describe, expect, it} from 'vitest';
import {parseExactJson} from './exact-json.js';
import {checkResponse, ProtocolViolation, ResponseReader, type CheckedResponse, type ParsedBody} from './response-check.js';

const valid = {state: {cursor: 1}, insert: {orders: [{id: 1, total: 5}]}, delete: {orders: [{id: 2}]}, schema: {orders: {primary_key: ['id']}}, hasMore: false};
const body = (patch: Record<string, unknown>, drop: string[] = []) => {
  const value: Record<string, unknown> = {...valid, ...patch};
  for (const key of drop) delete value[key];
  return JSON.stringify(value);
};

describe('checkResponse', () => {
  it('accepts a valid response and returns its parts', () => {
    const checked = checkResponse(200, body({softDelete: ['orders'], extra: 1}));
    expect(checked.state).toEqual({cursor: 1});
    expect(checked.insert.orders).toHaveLength(1);
    expect(checked.softDelete).toEqual(['orders']);
    expect(checked.warnings).toEqual(['the response has key Fivetran ignores: "extra"']);
  });

  const cases: {name: string; status?: number; body: string; capBytes?: number; expected: string}[] = [
    {name: 'an error status with the contract body', status: 500, body: JSON.stringify({errorMessage: 'source down', errorType: 'SourceError'}), expected: 'the function answered 500: source down (SourceError)'},
    {name: 'an error status with a text body', status: 502, body: '<html>Bad Gateway</html>', expected: 'the function answered 502: <html>Bad Gateway</html>'},
    {name: 'a body that is not JSON', body: 'ok', expected: 'the response is not JSON'},
    {name: 'an empty body', body: '', expected: 'the response body is empty'},
    {name: 'a list instead of an object', body: '[]', expected: 'the response is a list; answer a JSON object'},
    {name: 'missing state', body: body({}, ['state']), expected: '"state" is missing; it must be an object'},
    {name: 'missing insert', body: body({}, ['insert']), expected: '"insert" is missing'},
    {name: 'missing delete', body: body({}, ['delete']), expected: '"delete" is missing'},
    {name: 'missing schema', body: body({}, ['schema']), expected: '"schema" is missing'},
    {name: 'state that is a string', body: body({state: 'x'}), expected: '"state" is a string ("x"); it must be an object'},
    {name: 'missing hasMore', body: body({}, ['hasMore']), expected: '"hasMore" is missing; it must be true or false'},
    {name: 'hasMore as a string', body: body({hasMore: 'false'}), expected: '"hasMore" is a string ("false"); it must be true or false (a JSON boolean, not a string)'},
    {name: 'hasMore as a number', body: body({hasMore: 1}), expected: '"hasMore" is a number (1)'},
    {name: 'an insert table missing from schema', body: body({insert: {customers: [{id: 1}]}}), expected: 'insert.customers has 1 row but "customers" is missing from "schema"'},
    {name: 'a delete table missing from schema', body: body({delete: {customers: [{id: 1}]}}), expected: 'delete.customers has 1 row but "customers" is missing from "schema"'},
    {name: 'insert rows that are not a list', body: body({insert: {orders: {id: 1}}}), expected: 'insert.orders is an object; it must be a list of rows'},
    {name: 'a row that is not an object', body: body({insert: {orders: [5]}}), expected: 'insert.orders[0] is a number (5); each row must be an object'},
    {name: 'delete rows without the primary key', body: body({delete: {orders: [{total: 5}]}}), expected: 'delete.orders[0] lacks primary key column "id"; delete rows must carry the primary key'},
    {name: 'deletes on a table without a primary key', body: body({schema: {orders: {}}}), expected: 'delete.orders has rows but schema.orders has no primary_key'},
    {name: 'keyed insert rows without the key', body: body({insert: {orders: [{total: 5}]}}), expected: 'insert.orders[0] lacks primary key column "id"; rows of a table with a primary key must carry it'},
    {name: 'a primary key that is not a list', body: body({schema: {orders: {primary_key: 'id'}}}), expected: 'schema.orders.primary_key is a string ("id"); it must be a list of column names'},
    {name: 'softDelete that is not a list', body: body({softDelete: 'orders'}), expected: '"softDelete" is a string ("orders"); it must be a list of table names'},
    {name: 'softDelete naming an unknown table', body: body({softDelete: ['ghosts']}), expected: 'softDelete lists "ghosts", which is missing from "schema"'},
    {name: 'a system column in a row', body: body({insert: {orders: [{id: 1, _fivetran_synced: 'x'}]}}), expected: 'insert.orders[0] has column "_fivetran_synced"'},
    {name: 'a body over the cap', body: body({}), capBytes: 50, expected: 'bytes, over the 50-byte cap'},
  ];
  it.each(cases)('rejects $name', ({status, body: text, capBytes, expected}) => {
    let caught: unknown;
    try {
      checkResponse(status ?? 200, text, {capBytes});
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ProtocolViolation);
    expect((caught as Error).message).toContain(expected);
  });

  it('lists several problems at once, at most five', () => {
    const rows = Array.from({length: 20}, () => ({total: 1}));
    const error = (() => {
      try {
        checkResponse(200, body({insert: {orders: rows}, hasMore: 'yes'}));
      } catch (e) {
        return e as ProtocolViolation;
      }
    })();
    expect(error!.problems).toHaveLength(5);
    expect(error!.message).toMatch(/^5 problems: "hasMore" is a string/);
  });
});

describe('checkResponse limits', () => {
  it('refuses a state nested too deeply to send back, and keeps big numbers of the state exact', () => {
    const deep = `${'{"a":'.repeat(5000)}{}${'}'.repeat(5000)}`;
    expect(() => checkResponse(200, `{"state":${deep},"insert":{},"delete":{},"schema":{},"hasMore":false}`)).toThrow(
      '"state" is nested more than 1000 levels deep; Fivetran could not send it back (the function refuses such a state)',
    );
    const checked = checkResponse(200, '{"state":{"cursor":12345678901234567890},"insert":{},"delete":{},"schema":{},"hasMore":"12345678901234567890"}'.replace('"12345678901234567890"}', 'false}'));
    expect(String(checked.state.cursor)).toBe('12345678901234567890');
    expect(checked.exactNumbers).toBe(1);
    expect(() => checkResponse(200, '{"state":{},"insert":{},"delete":{},"schema":{},"hasMore":12345678901234567890}')).toThrow('"hasMore" is a number (12345678901234567890); it must be true or false');
  });
});

/** The body as the object path reads it: parseExactJson of the whole text, no rows left as bytes. */
const parsedWhole = (text: string): ParsedBody | undefined => {
  try {
    const found = {exactNumbers: 0};
    return {value: parseExactJson(text, found), scanned: {}, exactNumbers: found.exactNumbers, bytes: Buffer.byteLength(text)};
  } catch {
    return undefined; // checkResponse words the syntax error
  }
};
const read = (text: string, chunkBytes: number) => {
  const reader = new ResponseReader();
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += chunkBytes) reader.write(bytes.subarray(at, at + chunkBytes));
  return reader.end();
};
/** A check's result as plain data: rows read from bytes parsed (the getters run), which tables they were. */
const outcome = (run: () => CheckedResponse) => {
  try {
    const {scanned, ...checked} = run();
    return {checked: {...checked, insert: {...checked.insert}}, scanned: Object.keys(scanned)};
  } catch (error) {
    return {error: (error as Error).message};
  }
};
const sameAsObjectPath = (text: string, parsed: ParsedBody | undefined) => {
  const expected = outcome(() => checkResponse(200, text, {parsed: parsedWhole(text)}));
  const actual = outcome(() => checkResponse(200, text, {parsed}));
  expect({...actual, scanned: undefined}).toEqual({...expected, scanned: undefined});
  return actual;
};

describe('ResponseReader', () => {
  const many = Array.from({length: 3000}, (_, i) => ({id: i, name: `row "${i}" \\ São Paulo 🚀`, nested: {list: [i, {deep: [`]},{`]}]}, at: '2026-01-01T00:00:00Z'}));
  const schema = {orders: {primary_key: ['id']}, lines: {}};
  // every 500th row with numbers a double cannot hold, in pieces parsed as the rows stream in
  const manyBody = JSON.stringify({insert: {orders: many, lines: []}, delete: {}, schema, state: {after: 2999}, hasMore: true}).replace(/"id":(\d*000|\d*500),/g, '"id":$1,"big":12345678901234567890$1,');
  const cases: {name: string; body: string; fast: boolean}[] = [
    {name: 'a response with insert first, as the adapter writes it', body: body({}), fast: true},
    {name: 'insert after state and schema, indented', body: JSON.stringify({state: {a: [1, {b: 2}]}, schema, hasMore: false, delete: {}, insert: {orders: [{id: 1}], lines: [{x: 'y'}]}}, null, 2), fast: true},
    {name: 'rows parsed in several pieces, strings with quotes, brackets and non-ASCII text', body: manyBody, fast: true},
    {name: 'numbers past a double in rows and state', body: '{"insert":{"orders":[{"id":12345678901234567890,"v":0.12345678901234567890123}]},"delete":{},"schema":{"orders":{"primary_key":["id"]}},"state":{"lsn":98765432109876543210},"hasMore":false}', fast: true},
    {name: 'an escaped key', body: '{"ins\\u0065rt":{"orders":[{"id":1}]},"delete":{},"schema":{"orders":{"primary_key":["id"]}},"state":{},"hasMore":false}', fast: true},
    {name: 'insert twice (JSON.parse keeps the last)', body: '{"insert":{"orders":[{"id":1}]},"insert":{"orders":[{"id":2}]},"delete":{},"schema":{"orders":{"primary_key":["id"]}},"state":{},"hasMore":false}', fast: false},
    {name: 'a table twice in insert', body: '{"insert":{"orders":[{"id":1}],"orders":[{"id":2}]},"delete":{},"schema":{"orders":{"primary_key":["id"]}},"state":{},"hasMore":false}', fast: false},
    {name: 'a trailing comma after the rows', body: '{"insert":{"orders":[{"id":1},]},"delete":{},"schema":{"orders":{}},"state":{},"hasMore":false}', fast: false},
    {name: 'a trailing comma after rows parsed in pieces', body: manyBody.replace('],"lines"', ',],"lines"'), fast: false},
    {name: 'a comma before the first row', body: '{"insert":{"orders":[,{"id":1}]},"delete":{},"schema":{"orders":{}},"state":{},"hasMore":false}', fast: false},
    {name: 'a body cut short', body: manyBody.slice(0, 300_000), fast: false},
    {name: 'rows that are not a list, and a row that is a number', body: body({insert: {orders: {id: 1}, lines: [5]}}), fast: true},
    {name: 'a list instead of an object', body: '[{"insert":{"orders":[1]}}]', fast: false},
    {name: 'insert as a list', body: body({insert: [{orders: [1]}]}), fast: false},
  ];
  it.each(cases)('reads $name as parsing the whole text does', ({body: text, fast}) => {
    for (const chunkBytes of [text.length < 10_000 ? 1 : 4096, 7, 65_536, text.length]) {
      const parsed = read(text, chunkBytes);
      expect(parsed !== undefined).toBe(fast);
      sameAsObjectPath(text, parsed);
    }
    sameAsObjectPath(text, undefined);
  });

  it('leaves the rows of plain tables as bytes, and parses tables with nested values, big numbers or a missing key', () => {
    const text = JSON.stringify({
      insert: {plain: [{id: 1, at: '2026-01-01T00:00:00Z', n: 1.5, ok: true, s: 'São "x"\\', none: null}], nested: [{id: 1, v: {a: [1]}}], keyless: [{v: 1}]},
      delete: {}, schema: {plain: {primary_key: ['id']}, nested: {primary_key: ['id']}, keyless: {primary_key: ['id']}}, state: {}, hasMore: false,
    }).replace('"id":1}],"keyless"', '"id":1}],"big":[{"id":12345678901234567890}],"keyless"').replace('"keyless":{"primary_key"', '"big":{},"keyless":{"primary_key"');
    const parsed = read(text, 5);
    expect(Object.keys(parsed!.scanned).sort()).toEqual(['keyless', 'plain']);
    const result = sameAsObjectPath(text, parsed);
    expect(result.error).toContain('insert.keyless[0] lacks primary key column "id"');
    const fixed = text.replace('{"v":1}', '{"id":2,"v":1}');
    expect(sameAsObjectPath(fixed, read(fixed, 64)).scanned).toEqual(['plain', 'keyless']);
    expect(read(fixed, 64)!.scanned.plain!.columns).toEqual([
      {name: 'id', type: 'BIGINT'}, {name: 'at', type: 'TIMESTAMPTZ'}, {name: 'n', type: 'DOUBLE'}, {name: 'ok', type: 'BOOLEAN'}, {name: 's', type: 'VARCHAR'}, {name: 'none', type: undefined},
    ]);
  });

  // every mutation of a valid body that the scanner accepts must read as JSON.parse reads it
  it('reads mutated bodies as parsing the whole text does, or leaves them to it', () => {
    const rows = Array.from({length: 40}, (_, i) => ({id: i, name: `n "${i}" \\ é`, at: i % 2 ? '2026-01-02' : '2026-01-02T03:04:05+01:00', v: i / 4, ok: i % 3 === 0, x: null}));
    const base = JSON.stringify({insert: {t: rows}, delete: {}, schema: {t: {primary_key: ['id']}}, state: {}, hasMore: false});
    const tokens = [' ', ',', ']', '}', '{', '[', '"', '\\', '\\u00e9', '\\x', '0', '01', '-', '.', 'e', '1e400', 'tru', 'null', 'nul', ':', '\n', '\u0001', '12345678901234567', '1.0', '_fivetran_x', '"id"'];
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    let scanned = 0;
    for (let round = 0; round < 400; round++) {
      let text = base;
      for (let edits = 1 + random(2); edits > 0; edits--) {
        const at = 10 + random(text.length - 60);
        const token = tokens[random(tokens.length)]!;
        text = random(2) ? text.slice(0, at) + token + text.slice(at) : text.slice(0, at) + token + text.slice(at + 1 + random(3));
      }
      const parsed = read(text, 1 + random(300));
      if (parsed && Object.keys(parsed.scanned).length) scanned++;
      sameAsObjectPath(text, parsed);
    }
    expect(scanned).toBeGreaterThan(50);
  });
});

describe('ResponseReader and backslashes', () => {
  it.each([1, 2, 3, 5])('ends strings at the right quote when backslash runs cross chunks of %i bytes', (chunkBytes) => {
    const rows = [{id: 1, s: 'a\\'}, {id: 2, s: '\\\\"'}, {id: 3, s: '"\\"\\\\'}, {id: 4, s: '\\'.repeat(7) + '"]},{'}];
    const text = JSON.stringify({insert: {t: rows}, delete: {}, schema: {t: {primary_key: ['id']}}, state: {}, hasMore: false});
    const reader = new ResponseReader();
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += chunkBytes) reader.write(bytes.subarray(at, at + chunkBytes));
    const parsed = reader.end();
    expect(parsed!.scanned.t!.rows()).toEqual(rows);
    sameAsObjectPath(text, parsed);
  });
});
