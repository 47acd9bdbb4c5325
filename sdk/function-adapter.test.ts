import {describe, expect, it} from 'vitest';
import {z} from 'zod';
import {defineConnector} from './connector.js';
import {AuthError, ConfigError, SourceError} from './errors.js';
import {handleFunctionCall} from './function-adapter.js';
import {field} from './secrets.js';
import {checkpoint, declareTable, remove, upsert, upsertJson, upsertRecords, warning, type Emit, type State} from './types.js';

const secrets = z.object({
  token: field.secret(),
  pages: field.integer({min: 0}).default(3),
  rows_per_page: field.integer({min: 1}).default(2),
  fail_after_page: field.integer().optional(),
  fail_kind: field.enum(['retriable', 'fatal']).default('retriable'),
});

/** Pages 0..pages-1 of rows, a checkpoint after each page, resuming from state.page. */
const paged = defineConnector({
  name: 'paged',
  secrets,
  tables: {items: {primaryKey: ['id']}, gone: {primaryKey: ['id'], softDelete: true}},
  async test({secrets: s}) {
    if (s.token === 'bad-token-value') throw new AuthError('the API rejected the token; check token');
  },
  async *sync({secrets: s, state}) {
    for (let page = Number(state.page ?? 0); page < s.pages; page++) {
      if (s.fail_after_page !== undefined && page > s.fail_after_page) {
        throw s.fail_kind === 'retriable' ? new SourceError('source timed out', {retriable: true}) : new ConfigError('table is gone; fix it');
      }
      for (let i = 0; i < s.rows_per_page; i++) yield upsert('items', {id: page * 100 + i, name: `row ${page}-${i}`});
      yield checkpoint({page: page + 1});
    }
  },
});

const token = 'tok-SECRET-123456';
type Body = {state: State; insert: Record<string, unknown[]>; delete: Record<string, unknown[]>; schema: Record<string, unknown>; hasMore: boolean; softDelete?: string[]; errorMessage?: string; errorType?: string};

async function call(connector: typeof paged, body: unknown, limits = {}) {
  const lines: string[] = [];
  const result = await handleFunctionCall(connector, body, {limits, sink: (line) => lines.push(line)});
  return {status: result.status, body: JSON.parse(result.body) as Body, raw: result.body, lines, summary: result.summary};
}

describe('handleFunctionCall', () => {
  it('answers every page and hasMore false when sync finishes within budget', async () => {
    const {status, body} = await call(paged, {state: {}, secrets: {token}});
    expect(status).toBe(200);
    expect(body.hasMore).toBe(false);
    expect(body.state).toEqual({page: 3});
    expect(body.insert.items).toHaveLength(6);
    expect(body.schema).toEqual({items: {primary_key: ['id']}, gone: {primary_key: ['id']}});
    expect(body.delete).toEqual({});
  });

  it('treats a missing state as {} and accepts numbers sent as strings', async () => {
    const {status, body} = await call(paged, {secrets: {token, pages: '1', rows_per_page: '4'}});
    expect(status).toBe(200);
    expect(body.insert.items).toHaveLength(4);
    expect(body.state).toEqual({page: 1});
  });

  it('stops at the first checkpoint past the response cap and answers hasMore true', async () => {
    const cap = 700;
    const {body, raw, summary} = await call(paged, {state: {}, secrets: {token, pages: 30}}, {responseCapBytes: cap});
    expect(body.hasMore).toBe(true);
    expect(raw.length).toBeLessThanOrEqual(cap);
    expect(summary?.stopReason).toBe('response_bytes');
    // only whole pages covered by the returned checkpoint
    expect(body.insert.items!.length).toBe(Number(body.state.page) * 2);
    expect(body.state.page).toBeGreaterThanOrEqual(1);
  });

  it('continues from the state of the previous response until hasMore is false, with every row once', async () => {
    const seen = new Set<number>();
    let state: State = {};
    let calls = 0;
    for (;;) {
      const {body, raw} = await call(paged, {state, secrets: {token, pages: 40}}, {responseCapBytes: 700});
      expect(raw.length).toBeLessThanOrEqual(700);
      calls++;
      for (const row of body.insert.items ?? []) {
        const id = (row as {id: number}).id;
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }
      state = body.state;
      if (!body.hasMore) break;
      expect(calls).toBeLessThan(20);
    }
    expect(seen.size).toBe(80);
    expect(calls).toBeGreaterThan(1);
  });

  it('answers hasMore false when the budget runs out at the checkpoint that ends the sync', async () => {
    // a deadline already passed: the budget is spent at every checkpoint
    const spent = {timeoutSeconds: 0.001, reserveMs: 10};
    const first = await call(paged, {state: {}, secrets: {token, pages: 2}}, spent);
    expect(first.body).toMatchObject({hasMore: true, state: {page: 1}});
    expect(first.summary?.stopReason).toBe('deadline');
    const last = await call(paged, {state: first.body.state, secrets: {token, pages: 2}}, spent);
    expect(last.body).toMatchObject({hasMore: false, state: {page: 2}});
    expect(last.summary?.stopReason).toBe('finished');
    expect(last.body.insert.items).toHaveLength(2);
  });

  it('tells the sync it is stopping before asking for the item it will drop', async () => {
    const seen: boolean[] = [];
    const observer = defineConnector({
      name: 'observer',
      secrets: z.object({}),
      tables: {t: {primaryKey: ['id']}},
      async test() {},
      async *sync({budget}) {
        for (let id = 1; id <= 3; id++) {
          yield upsert('t', {id});
          yield checkpoint({id});
          seen.push(budget.stopping);
        }
      },
    });
    const finished = await call(observer as unknown as typeof paged, {});
    expect(finished.body.hasMore).toBe(false);
    expect(seen).toEqual([false, false, false]);
    seen.length = 0;
    const stopped = await call(observer as unknown as typeof paged, {}, {timeoutSeconds: 0.001, reserveMs: 10});
    expect(stopped.body).toMatchObject({hasMore: true, state: {id: 1}});
    expect(seen).toEqual([true]);
  });

  it('answers the committed part with hasMore after a retriable source error, and drops the rest', async () => {
    const {status, body, lines} = await call(paged, {state: {}, secrets: {token, pages: 5, fail_after_page: 1}});
    expect(status).toBe(200);
    expect(body.hasMore).toBe(true);
    expect(body.state).toEqual({page: 2});
    expect(body.insert.items).toHaveLength(4);
    expect(lines.some((l) => l.includes('retriable source error'))).toBe(true);
  });

  it('fails with 400 and no data for an error the user must fix', async () => {
    const {status, body} = await call(paged, {state: {}, secrets: {token, pages: 5, fail_after_page: 1, fail_kind: 'fatal'}});
    expect(status).toBe(400);
    expect(body).toEqual({errorMessage: 'table is gone; fix it', errorType: 'InvalidConfiguration'});
  });

  it('runs only the setup test for setup_test: true', async () => {
    const ok = await call(paged, {setup_test: true, secrets: {token}});
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({state: {}, insert: {}, delete: {}, schema: {}, hasMore: false});
    const bad = await call(paged, {setup_test: true, secrets: {token: 'bad-token-value'}});
    expect(bad.status).toBe(500);
    expect(bad.body.errorType).toBe('AuthenticationFailed');
    expect(bad.raw).not.toContain('bad-token-value');
    expect(bad.lines.join('\n')).not.toContain('bad-token-value');
  });

  it.each([
    ['a JSON array', [1, 2], 'InvalidRequest'],
    ['a string', 'hello', 'InvalidRequest'],
    ['null', null, 'InvalidRequest'],
    ['state that is not an object', {state: [1], secrets: {token}}, 'InvalidRequest'],
    ['secrets that are not an object', {secrets: 'x'}, 'InvalidSecrets'],
    ['setup_test that is not a boolean', {setup_test: 'yes', secrets: {token}}, 'InvalidRequest'],
  ])('answers 400 for %s', async (_name, body, errorType) => {
    const result = await call(paged, body);
    expect(result.status).toBe(400);
    expect(result.body.errorType).toBe(errorType);
    expect(result.body.errorMessage).toMatch(/\S/);
  });

  it('names every invalid secret key and what it expects, never the values', async () => {
    const {status, body} = await call(paged, {secrets: {pages: 'many-pages-value', rows_per_page: '0', fail_kind: 'sometimes-value'}});
    expect(status).toBe(400);
    expect(body.errorType).toBe('InvalidSecrets');
    expect(body.errorMessage).toContain('token is required');
    expect(body.errorMessage).toContain('pages must be');
    expect(body.errorMessage).toContain('rows_per_page must be at least 1');
    expect(body.errorMessage).toContain('fail_kind must be one of retriable, fatal');
    expect(body.errorMessage).not.toContain('many-pages-value');
    expect(body.errorMessage).not.toContain('sometimes-value');
  });

  it('warns about unknown secret keys by name only', async () => {
    const {status, lines} = await call(paged, {secrets: {token, pagez: 'typo-value'}});
    expect(status).toBe(200);
    const warningLine = lines.map((l) => JSON.parse(l) as {severity: string; message: string}).find((l) => l.severity === 'WARNING');
    expect(warningLine?.message).toBe('ignoring unknown secret keys: pagez');
    expect(lines.join('\n')).not.toContain('typo-value');
  });

  it('never writes the secret value to logs or responses, even when the connector logs it', async () => {
    const leaky = defineConnector({
      name: 'leaky',
      secrets: z.object({password: field.secret(), user: field.text()}),
      tables: {t: {primaryKey: ['id']}},
      async test() {},
      // eslint-disable-next-line require-yield -- it fails before emitting anything, on purpose
      async *sync({secrets: s, log}) {
        log.info(`connecting with ${s.password}`, {password: s.password});
        throw new Error(`login failed for ${s.user} with password ${s.password}`);
      },
    });
    const password = 'p@ss"word-with-quote';
    const result = await call(leaky as unknown as typeof paged, {secrets: {password, user: 'alice'}});
    expect(result.status).toBe(500);
    expect(result.body.errorType).toBe('InternalError');
    expect(result.body.errorMessage).toContain('login failed for alice with password [REDACTED]');
    expect(result.raw).not.toContain('word-with-quote');
    expect(result.lines.join('\n')).not.toContain('word-with-quote');
    expect(result.lines.join('\n')).not.toContain(JSON.stringify(password).slice(1, -1));
    expect(result.raw).not.toContain('    at ');
  });

  it('writes structured log lines with severity, connector and sync_id', async () => {
    const {lines} = await call(paged, {secrets: {token, pages: 1}, sync_id: 'sync-42'});
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) {
      expect(entry).toMatchObject({connector: 'paged', sync_id: 'sync-42'});
      expect(['DEBUG', 'INFO', 'WARNING', 'ERROR']).toContain(entry.severity);
    }
    expect(entries.at(-1)).toMatchObject({message: 'call finished', has_more: false, rows: {items: 2}});
  });
});

describe('records', () => {
  function connectorOf(emits: Emit[], tables = {t: {primaryKey: ['id']}}) {
    return defineConnector({
      name: 'emits',
      secrets: z.object({}),
      tables,
      async test() {},
      async *sync() {
        yield* emits;
      },
    }) as unknown as typeof paged;
  }

  it('includes deletes with only the primary key, soft-delete tables and run-time tables in schema', async () => {
    const c = defineConnector({
      name: 'emits',
      secrets: z.object({}),
      tables: {t: {primaryKey: ['id']}, s: {primaryKey: ['a', 'b'], softDelete: true}},
      async test() {},
      async *sync() {
        yield declareTable('dyn', {primaryKey: ['k']});
        yield upsert('dyn', {k: 'x', big: 12345678901234567890n, bytes: Buffer.from('hi'), at: new Date('2026-01-02T03:04:05Z')});
        yield remove('t', {id: 7, other: 'dropped'});
        yield remove('s', {a: 1, b: 2});
        yield warning('heads up');
        yield checkpoint({done: true});
      },
    });
    const {status, body} = await call(c as unknown as typeof paged, {});
    expect(status).toBe(200);
    expect(body.insert.dyn).toEqual([{k: 'x', big: '12345678901234567890', bytes: 'aGk=', at: '2026-01-02T03:04:05.000Z'}]);
    expect(body.delete).toEqual({t: [{id: 7}], s: [{a: 1, b: 2}]});
    expect(body.softDelete).toEqual(['s']);
    expect(body.schema).toEqual({t: {primary_key: ['id']}, s: {primary_key: ['a', 'b']}, dyn: {primary_key: ['k']}});
  });

  it('passes pre-serialized rows through unchanged', async () => {
    const c = connectorOf([upsertJson('t', '{"id":1,"n":"1.50"},{"id":2,"n":"2.00"}', 2), upsertJson('t', '', 0), checkpoint({p: 1})]);
    const {body, summary} = await call(c, {});
    expect(body.insert.t).toEqual([{id: 1, n: '1.50'}, {id: 2, n: '2.00'}]);
    expect(summary?.rows).toEqual({t: 2});
  });

  it.each([
    ['a delete without the primary key', [remove('t', {name: 'x'}), checkpoint({})], /without primary key column "id"/],
    ['rows for an undeclared table', [upsert('nope', {id: 1}), checkpoint({})], /undeclared table "nope"/],
    [
      'Partner SDK Records (ctx.records is never set here)',
      [upsertRecords({layout: {table: 't', header: Buffer.alloc(0), columns: [], maxRecords: 100, maxBytes: 1024, declaration: {}}, bytes: Buffer.alloc(0), count: 0, batches: [], recordBytes: 0}), checkpoint({})],
      /upsertRecords, which only the Partner SDK takes/,
    ],
  ])('fails with a ProtocolError for %s', async (_name, emits, message) => {
    const {status, body} = await call(connectorOf(emits as Emit[]), {});
    expect(status).toBe(500);
    expect(body.errorType).toBe('ProtocolError');
    expect(body.errorMessage).toMatch(message);
  });

  it('fails clearly when a connector emits more than the cap before any checkpoint', async () => {
    const rows = Array.from({length: 50}, (_, i) => upsert('t', {id: i, pad: 'x'.repeat(50)}));
    const {status, body} = await call(connectorOf([...rows, checkpoint({})]), {}, {responseCapBytes: 1000});
    expect(status).toBe(500);
    expect(body.errorMessage).toMatch(/before its first checkpoint; checkpoint after smaller batches/);
  });

  it('drops records after the last checkpoint when the cap is reached mid-batch', async () => {
    const batch = (from: number) => Array.from({length: 5}, (_, i) => upsert('t', {id: from + i, pad: 'x'.repeat(40)}));
    const c = connectorOf([...batch(0), checkpoint({n: 5}), ...batch(5), checkpoint({n: 10}), ...batch(10), ...batch(15), checkpoint({n: 20})]);
    const {body} = await call(c, {}, {responseCapBytes: 700});
    expect(body.hasMore).toBe(true);
    const ids = (body.insert.t ?? []).map((r) => (r as {id: number}).id);
    expect(ids).toEqual(Array.from({length: Number(body.state.n)}, (_, i) => i));
  });

  it('ends at the last checkpoint when the next one\'s grown state would push fitting rows past the cap', async () => {
    // rows that fit under the cap with the small state, then a final checkpoint whose state does not fit
    const batch = (from: number) => Array.from({length: 5}, (_, i) => upsert('t', {id: from + i, pad: 'x'.repeat(40)}));
    const c = connectorOf([...batch(0), checkpoint({n: 5}), ...batch(5), checkpoint({n: 10, memory: 'm'.repeat(400)})]);
    const {status, body, raw} = await call(c, {}, {responseCapBytes: 1000});
    expect(status).toBe(200);
    expect(raw.length).toBeLessThanOrEqual(1000);
    expect(body.hasMore).toBe(true);
    expect(body.state).toEqual({n: 5});
    expect((body.insert.t ?? []).map((r) => (r as {id: number}).id)).toEqual([0, 1, 2, 3, 4]);
  });

  it('never answers hasMore true without progress', async () => {
    // the budget is spent from the start, but the first checkpoint carries no rows and the same state
    const c = connectorOf([checkpoint({}), upsert('t', {id: 1}), checkpoint({n: 1}), upsert('t', {id: 2}), checkpoint({n: 2})]);
    const {body} = await call(c, {state: {}}, {timeoutSeconds: 0.001, reserveMs: 10});
    expect(body.hasMore).toBe(true);
    expect(body.state).toEqual({n: 1});
    expect(body.insert.t).toEqual([{id: 1}]);
  });

  it('ends the call with hasMore true at a checkpoint marked endCall, leaving what follows to the next call', async () => {
    // a key deleted and then inserted again: in one response Fivetran would apply the insert before the delete
    const c = connectorOf([remove('t', {id: 1}), checkpoint({n: 1}, {endCall: true}), upsert('t', {id: 1}), checkpoint({n: 2})]);
    const {body, summary} = await call(c, {state: {}});
    expect(body.hasMore).toBe(true);
    expect(summary?.stopReason).toBe('end_call');
    expect(body.state).toEqual({n: 1});
    expect(body.delete.t).toEqual([{id: 1}]);
    expect(body.insert.t).toBeUndefined();
  });

  it('goes on past an endCall checkpoint without progress, so Fivetran is never called again for nothing', async () => {
    const c = connectorOf([checkpoint({}, {endCall: true}), upsert('t', {id: 1}), checkpoint({n: 1})]);
    const {body} = await call(c, {state: {}});
    expect(body.hasMore).toBe(false);
    expect(body.insert.t).toEqual([{id: 1}]);
  });
});
