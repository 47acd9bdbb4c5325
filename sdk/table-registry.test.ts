import {describe, expect, it} from 'vitest';
import {ProtocolError} from './errors.js';
import {TableRegistry} from './table-registry.js';

describe('TableRegistry', () => {
  const registry = () => new TableRegistry('sample', {items: {primaryKey: ['id', 'region']}, log: {}});

  it('keeps only the primary key columns of a delete', () => {
    expect(registry().deleteKeys('items', {id: 1, region: 'eu', name: 'x'})).toEqual({id: 1, region: 'eu'});
  });

  it.each([
    ['an undeclared table', 'other', {id: 1}, 'sample emitted records for undeclared table "other"; list it in tables or yield declareTable() first'],
    ['a table without a primary key', 'log', {id: 1}, 'sample deleted from "log", which has no primary key; declare one'],
    ['a missing key column', 'items', {id: 1}, 'sample deleted from "items" without primary key column "region"'],
  ])('refuses a delete from %s, naming it', (_name, table, keys, message) => {
    expect(() => registry().deleteKeys(table, keys)).toThrow(new ProtocolError(message));
  });

  it('answers the schema as sent: primary keys only, tables declared during the sync included', () => {
    const tables = registry();
    tables.declare('events', {primaryKey: ['at'], columns: {at: 'utc_datetime'}});
    expect(tables.schema()).toEqual({items: {primary_key: ['id', 'region']}, log: {}, events: {primary_key: ['at']}});
  });
});
