// A state this connector did not write is refused with a one-line 400 naming the field and how to start
// afresh, never resumed from a guess (which would skip or repeat rows) nor blamed on the configuration.
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {callConnector} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {sourceSecrets} from './source-secrets.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replication_state');
  await db.query(`CREATE TABLE orders (order_id int PRIMARY KEY, region text, updated_at timestamptz NOT NULL DEFAULT now())`);
  await db.query(`INSERT INTO orders SELECT g, 'Europe' FROM generate_series(1, 20) g`);
});
afterAll(async () => db?.drop());

const RESET = /; reset the connection's state \(in Fivetran: .*\), and the next sync starts afresh$/;
const loading = (after: unknown) => ({version: 1, pass: 1, table: 'public_orders', tables: {public_orders: {phase: 'full', after, horizon: '1', start: null, key: 'updated_at|order_id'}}});

describe('a state the connector did not write', () => {
  it.each([
    ['a key value that is not of the key column', loading(['abc']), /^the state is not one this connector wrote: state\.tables\.public_orders\.after\[0\] \("abc"\) is not a value of column "order_id" \(integer\) of public\.orders/],
    ['a key of the wrong length', loading(['1', '2']), /^the state is not one this connector wrote: state\.tables\.public_orders\.after has 2 value\(s\) but public\.orders's key has 1 \(order_id\)/],
    ['a key value that is a number', loading([5]), /^the state is not one this connector wrote: state\.tables\.public_orders\.after\.0 expected string, received number/],
    ['an unknown phase', {version: 1, pass: 1, table: null, tables: {public_orders: {phase: 'done', key: 'x'}}}, /^the state is not one this connector wrote: state\.tables\.public_orders\.phase must have "phase" "full", "incremental" or "pages"/],
    ['another version', {version: 2, pass: 1, table: null, tables: {}}, /^the state is not one this connector wrote: state\.version must be 1/],
    ['a range of a split load with a key of the wrong length', {...loading(null), tables: {public_orders: {phase: 'full', after: null, horizon: '1', start: null, key: 'updated_at|order_id', parts: [{after: null, until: ['5', '6'], done: false}, {after: ['5'], until: null, done: false}]}}}, /^the state is not one this connector wrote: state\.tables\.public_orders\.parts\[0\]\.until has 2 value\(s\) but public\.orders's key has 1 \(order_id\)/],
    ['a range without its end', {...loading(null), tables: {public_orders: {phase: 'full', after: null, horizon: '1', start: null, key: 'updated_at|order_id', parts: [{after: null, done: false}]}}}, /^the state is not one this connector wrote: state\.tables\.public_orders\.parts\.0\.until/],
    ['an unknown key', {version: 1, pass: 1, table: null, tables: {}, cursor: 'x'}, /^the state is not one this connector wrote: state has unknown key "cursor"/],
    ['the freshness connector\'s state', {last_check_time: '2024-05-01T10:00:00Z', cooldown_until: null}, /^the state is not a replication state \(it has "last_check_time", "cooldown_until" and no "version", "pass", "table" and "tables"\): it was written by another connector or by hand/],
  ])('refuses %s with a 400 naming the field', async (_name, state, message) => {
    const call = await callConnector(connector, {state, secrets: sourceSecrets(db, {region: 'Europe'})});
    expect(call.status).toBe(400);
    expect(call.body.errorType).toBe('InvalidRequest');
    expect(call.body.errorMessage).toMatch(message);
    expect(call.body.errorMessage).toMatch(RESET);
    expect(call.body.errorMessage).not.toMatch(/region|table_filters/);
    expect(call.body.errorMessage).not.toContain('\n');
  });

  it('still blames the filters when they are what does not fit', async () => {
    const call = await callConnector(connector, {state: loading(['3']), secrets: sourceSecrets(db, {table_filters: JSON.stringify({orders: {order_id: 'abc'}})})});
    expect(call.status).toBe(400);
    expect(call.body.errorMessage).toMatch(/a filter value does not fit its column's type .*; check region and table_filters/);
  });

  it('resumes a load split into ranges from each range\'s position, with any custom_threads', async () => {
    const split = {
      ...loading(null),
      tables: {public_orders: {phase: 'full', after: null, horizon: '1', start: null, key: 'updated_at|order_id', parts: [{after: null, until: ['8'], done: true}, {after: ['12'], until: ['15'], done: false}, {after: ['18'], until: null, done: false}]}},
    };
    for (const threads of ['1', '3']) {
      const call = await callConnector(connector, {state: split, secrets: sourceSecrets(db, {custom_threads: threads})});
      expect(call.status).toBe(200);
      expect(call.body.insert.public_orders!.map((r) => r.order_id).sort((a, b) => Number(a) - Number(b))).toEqual([13, 14, 15, 19, 20]);
    }
  });

  it('resumes from a state it wrote', async () => {
    const call = await callConnector(connector, {state: loading(['15']), secrets: sourceSecrets(db)});
    expect(call.status).toBe(200);
    expect(call.body.insert.public_orders!.map((r) => r.order_id)).toEqual([16, 17, 18, 19, 20]);
  });
});
