import {describe, expect, it} from 'vitest';
import * as z from 'zod';
import {defineConnector} from './connector.js';
import {callConnector} from './testing.js';
import {checkpoint, upsert, type Emit} from './types.js';

// a connector with a typed state: `{}` gives the defaults, and `ctx.state` / checkpoint() take its type
const Cursor = z.strictObject({after: z.number().int().nonnegative().default(0), pass: z.number().int().positive().default(1)});
const counter = defineConnector({
  name: 'counter',
  secrets: z.object({}),
  state: Cursor,
  tables: {items: {primaryKey: ['id']}},
  async test() {},
  async *sync({state}) {
    const id: number = state.after + 1;
    yield upsert('items', {id});
    yield checkpoint({...state, after: id});
  },
});

describe('the state policy', () => {
  it('gives the schema defaults on the first sync and the parsed state after', async () => {
    const first = await callConnector(counter, {state: {}});
    expect(first.body).toMatchObject({state: {after: 1, pass: 1}, insert: {items: [{id: 1}]}});
    const next = await callConnector(counter, {state: first.body.state});
    expect(next.body).toMatchObject({state: {after: 2, pass: 1}, insert: {items: [{id: 2}]}});
  });

  it.each([
    ['a field of the wrong type', {after: 'x'}, /^the state is not one this connector wrote: state\.after expected number, received string; reset the connection's state/],
    ['an unknown key', {after: 1, cursor: 'x'}, /^the state is not one this connector wrote: state has unknown key "cursor"; reset/],
    ['another connector\'s state', {last_check_time: 'x'}, /^the state is not a counter state \(it has "last_check_time" and no "after" and "pass"\): it was written by another connector or by hand; reset/],
  ])('refuses %s with a one-line 400 naming the field', async (_name, state, message) => {
    const {status, body} = await callConnector(counter, {state});
    expect(status).toBe(400);
    expect(body.errorType).toBe('InvalidRequest');
    expect(body.errorMessage).toMatch(message);
    expect(body.errorMessage).not.toContain('\n');
  });
});

describe('typed state', () => {
  it('types checkpoint() by the state schema: a checkpoint of another shape does not compile', () => {
    const wrong = async function* (): AsyncGenerator<Emit<z.infer<typeof Cursor>>> {
      // @ts-expect-error `after` is a number in the schema
      yield checkpoint({after: 'x', pass: 1});
    };
    expect(typeof wrong).toBe('function');
  });
});
