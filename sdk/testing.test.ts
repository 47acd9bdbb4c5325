// The test harness holds connectors to what the local Fivetran accepts: a response Fivetran would refuse
// fails the sync, and what it accepts lands in DuckDB with the state committed after it.
import {describe, expect, it} from 'vitest';
import {checkpoint, defineConnector, upsert, z} from './index.js';
import {callConnector, ProtocolViolation, serveConnector, syncAll, TestSyncFailed, TestWarehouse} from './testing.js';

const PAD = 'x'.repeat(200);

const counter = defineConnector({
  name: 'counter',
  secrets: z.object({}),
  tables: {items: {primaryKey: ['id']}},
  async test() {},
  async *sync({state}) {
    const from = Number(state.next ?? 1);
    for (let id = from; id <= 7; id++) {
      yield upsert('items', {id, name: `item ${id}`, padding: PAD});
      yield checkpoint({next: id + 1});
    }
  },
});

const reserved = defineConnector({
  name: 'reserved',
  secrets: z.object({}),
  tables: {items: {}},
  async test() {},
  async *sync() {
    yield upsert('items', {_fivetran_id: 'abc', name: 'keyless'});
    yield checkpoint({done: true});
  },
});

describe('sdk/testing', () => {
  it('syncs through the local Fivetran into DuckDB, committing each call state', async () => {
    const warehouse = await TestWarehouse.open();
    const first = await syncAll(counter, {}, {warehouse, callOptions: {limits: {responseCapBytes: 1000}}});
    expect(first.calls.length).toBeGreaterThan(1);
    expect(first.state).toEqual({next: 8});
    expect(first.committedStates.at(-1)).toEqual({next: 8});
    expect(await first.rows('items', {orderBy: ['id']})).toEqual([1, 2, 3, 4, 5, 6, 7].map((id) => ({id, name: `item ${id}`, padding: PAD})));
    // a second sync from the committed state upserts nothing new
    const second = await syncAll(counter, {}, {warehouse, state: first.state});
    expect(second.inserted('items')).toEqual([]);
    expect((await second.rows('items')).length).toBe(7);
    await warehouse.close();
  });

  it('fails a sync whose response Fivetran would refuse, naming the problem', async () => {
    const failure = await syncAll(reserved, {}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TestSyncFailed);
    expect((failure as TestSyncFailed).message).toMatch(/insert\.items\[0\] has column "_fivetran_id"/);
    expect((failure as TestSyncFailed).last?.status).toBe(200);
  });

  it('checks a single call strictly and returns error answers for the test to assert', async () => {
    await expect(callConnector(reserved, {state: {}, secrets: {}})).rejects.toThrow(ProtocolViolation);
    const bad = await callConnector(counter, 'not an object');
    expect(bad.status).toBe(400);
    expect(bad.body.errorType).toBeDefined();
    const ok = await callConnector(counter, {state: {}, secrets: {}});
    expect(ok.response?.insert.items?.length).toBe(7);
  });

  it('serves a connector on functions-framework and syncs it over HTTP', async () => {
    const server = await serveConnector(counter);
    try {
      const result = await syncAll(undefined, {}, {url: server.url, schema: 'served'});
      expect(result.state).toEqual({next: 8});
      expect((await result.rows('items')).length).toBe(7);
    } finally {
      await server.close();
    }
  });
});
