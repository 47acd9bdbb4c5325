// A call answers before its deadline whatever the connector is waiting on: ctx.signal aborts at the deadline
// (the timeout less the reserve), and the adapter answers the last checkpoint with hasMore, or an error that
// names what blocked, within a short grace, even when the connector ignores the signal.
import {describe, expect, it} from 'vitest';
import {checkpoint, defineConnector, SourceError, upsert, z} from './index.js';
import {callConnector} from './testing.js';

const limits = {timeoutSeconds: 2, reserveMs: 1000};
const forever = () => new Promise<never>(() => undefined);

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new SourceError('still waiting for a lock on "public"."orders"')), {once: true}));
}

const blocked = (options: {checkpointFirst: boolean; honoursSignal: boolean}) =>
  defineConnector({
    name: 'blocked',
    secrets: z.object({}),
    tables: {items: {primaryKey: ['id']}},
    async test({signal}) {
      await (options.honoursSignal ? untilAborted(signal) : forever());
    },
    async *sync({signal}) {
      if (options.checkpointFirst) {
        yield upsert('items', {id: 1});
        yield checkpoint({after: 1});
      }
      yield upsert('items', {id: 2});
      await (options.honoursSignal ? untilAborted(signal) : forever());
      yield checkpoint({after: 2});
    },
  });

async function timed<T>(work: Promise<T>): Promise<{value: T; ms: number}> {
  const started = Date.now();
  const value = await work;
  return {value, ms: Date.now() - started};
}

describe('the deadline of a call', () => {
  it('answers the last checkpoint with hasMore before the timeout when a query blocks', async () => {
    const {value: call, ms} = await timed(callConnector(blocked({checkpointFirst: true, honoursSignal: true}), {state: {}, secrets: {}}, {limits}));
    expect(ms).toBeLessThan(2000);
    expect(call.status).toBe(200);
    expect(call.body.hasMore).toBe(true);
    expect(call.body.state).toEqual({after: 1});
    expect(call.body.insert.items).toEqual([{id: 1}]); // the row after the checkpoint is dropped
  });

  it('answers a one-line error naming what blocked when there is no checkpoint yet', async () => {
    const {value: call, ms} = await timed(callConnector(blocked({checkpointFirst: false, honoursSignal: true}), {state: {}, secrets: {}}, {limits}));
    expect(ms).toBeLessThan(2000);
    expect(call.status).toBe(500);
    expect(call.body.errorType).toBe('DeadlineExceeded');
    expect(call.body.errorMessage).toBe(`blocked reached the call's deadline (2 s function timeout) during its sync: still waiting for a lock on "public"."orders"`);
  });

  it('answers before the timeout even when the connector ignores the signal', async () => {
    const {value: withProgress, ms} = await timed(callConnector(blocked({checkpointFirst: true, honoursSignal: false}), {state: {}, secrets: {}}, {limits}));
    expect(ms).toBeLessThan(2000);
    expect(withProgress.body).toMatchObject({hasMore: true, state: {after: 1}});

    const without = await callConnector(blocked({checkpointFirst: false, honoursSignal: false}), {state: {}, secrets: {}}, {limits});
    expect(without.status).toBe(500);
    expect(without.body.errorMessage).toMatch(/^blocked reached the call's deadline \(2 s function timeout\) during its sync and did not stop when asked, before its first checkpoint; /);
  });

  it('bounds the setup test by the same deadline', async () => {
    const {value: call, ms} = await timed(callConnector(blocked({checkpointFirst: false, honoursSignal: true}), {setup_test: true, state: {}, secrets: {}}, {limits}));
    expect(ms).toBeLessThan(2000);
    expect(call.status).toBe(500);
    expect(call.body.errorMessage).toBe(`blocked reached the call's deadline (2 s function timeout) during the setup test: still waiting for a lock on "public"."orders"`);
  });
});
