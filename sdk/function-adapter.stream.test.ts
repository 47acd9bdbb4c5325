// Streamed responses: once a call has committed enough rows, the adapter answers 200 and writes each
// checkpoint's rows as it commits, over the real HTTP server a deployed function runs on.
import {request, type IncomingHttpHeaders} from 'node:http';
import {afterEach, describe, expect, it} from 'vitest';
import {z} from 'zod';
import {defineConnector, type Connector} from './connector.js';
import {ConfigError, SourceError} from './errors.js';
import {createMain, handleFunctionCall, type Chunk, type ResponseStream} from './function-adapter.js';
import {field} from './secrets.js';
import {createFunctionServer, listen} from './server.js';
import {checkpoint, declareTable, upsert, upsertJson, type State} from './types.js';

type Body = {state: State; insert: Record<string, {id: number; pad?: string}[]>; delete: Record<string, unknown[]>; schema: Record<string, unknown>; hasMore: boolean};

const secrets = z.object({
  batches: field.integer({min: 0}).default(4),
  rows: field.integer({min: 1}).default(50),
  fail_after: field.integer().optional(),
  fail_kind: field.enum(['retriable', 'fatal', 'undeclared']).default('fatal'),
});

/** Hooks a test sets to watch or steer the sync from outside. */
const hooks: {afterFirstCheckpoint?: () => Promise<void>; ended?: () => void} = {};

/** Batches of `rows` rows as pre-serialized bytes (as replication emits them), a checkpoint after each. */
const batches = defineConnector({
  name: 'batches',
  secrets,
  tables: {items: {primaryKey: ['id']}, notes: {primaryKey: ['id']}},
  async test() {},
  async *sync({secrets: s, state, signal}) {
    try {
      for (let batch = Number(state.batch ?? 0); batch < s.batches; batch++) {
        if (s.fail_after !== undefined && batch > s.fail_after) {
          if (s.fail_kind === 'undeclared') yield upsert('nowhere', {id: 1});
          throw s.fail_kind === 'retriable' ? new SourceError('the source went away', {retriable: true}) : new ConfigError('the table is gone; fix it');
        }
        const rows = Array.from({length: s.rows}, (_, i) => JSON.stringify({id: batch * 1000 + i, pad: 'x'.repeat(100)}));
        yield upsertJson('items', Buffer.from(rows.join(',')), rows.length);
        // a small table beside the streamed one: written at the end, under its own key
        yield upsert('notes', {id: batch});
        yield checkpoint({batch: batch + 1});
        if (batch === 0) await hooks.afterFirstCheckpoint?.();
        signal.throwIfAborted();
      }
    } finally {
      hooks.ended?.();
    }
  },
});

const servers: {close(): void}[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  delete hooks.afterFirstCheckpoint;
  delete hooks.ended;
});

async function serve(connector: Connector, streamAfterBytes: number, limits = {}): Promise<string> {
  const server = createFunctionServer(`stream-${servers.length}-${Date.now()}`, createMain(connector, {streamAfterBytes, limits, sink: () => undefined}));
  servers.push(server);
  return listen(server, 0);
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** POSTs and reads the whole answer; `onFirstBytes` runs when the first body bytes arrive. */
function post(url: string, body: unknown, onFirstBytes?: () => void): Promise<Answer> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, {method: 'POST', headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)}}, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        if (!chunks.length) onFirstBytes?.();
        chunks.push(chunk);
      });
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8')}));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const ids = (body: Body, table: string) => (body.insert[table] ?? []).map((row) => row.id);

describe('streamed responses over HTTP', () => {
  it('sends a small response whole, with a Content-Length', async () => {
    const url = await serve(batches, 1024 * 1024);
    const answer = await post(url, {state: {}, secrets: {batches: '2', rows: '3'}});
    expect(answer.status).toBe(200);
    expect(answer.headers['content-length']).toBe(String(Buffer.byteLength(answer.text)));
    expect(answer.headers['transfer-encoding']).toBeUndefined();
    const body = JSON.parse(answer.text) as Body;
    expect(ids(body, 'items')).toEqual([0, 1, 2, 1000, 1001, 1002]);
    expect(body).toMatchObject({state: {batch: 2}, hasMore: false});
  });

  it('streams a large response in chunks, with every row of every table once and the state last', async () => {
    const url = await serve(batches, 8 * 1024);
    const answer = await post(url, {state: {}, secrets: {batches: '4', rows: '50'}});
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toContain('application/json');
    expect(answer.headers['transfer-encoding']).toBe('chunked');
    const body = JSON.parse(answer.text) as Body;
    expect(ids(body, 'items')).toEqual([0, 1000, 2000, 3000].flatMap((start) => Array.from({length: 50}, (_, i) => start + i)));
    expect(ids(body, 'notes')).toEqual([0, 1, 2, 3]);
    expect(body).toMatchObject({state: {batch: 4}, hasMore: false, delete: {}, schema: {items: {primary_key: ['id']}, notes: {primary_key: ['id']}}});
    expect(answer.text.endsWith('"state":{"batch":4},"hasMore":false}')).toBe(true);
  });

  it('writes committed rows while the sync is still running', async () => {
    const url = await serve(batches, 1024);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let bytesBeforeRelease = false;
    // the sync waits after its first checkpoint until the caller has received bytes
    hooks.afterFirstCheckpoint = () => released;
    const answer = await post(url, {state: {}, secrets: {batches: '2', rows: '50'}}, () => {
      bytesBeforeRelease = true;
      release();
    });
    expect(bytesBeforeRelease).toBe(true);
    expect(ids(JSON.parse(answer.text) as Body, 'items')).toHaveLength(100);
  });

  it('stops at the checkpoint past the cap with hasMore, and the calls together hold every row once', async () => {
    const url = await serve(batches, 2 * 1024, {responseCapBytes: 12 * 1024});
    let state: State = {};
    const seen: number[] = [];
    let calls = 0;
    for (;;) {
      const answer = await post(url, {state, secrets: {batches: '10', rows: '40'}});
      const body = JSON.parse(answer.text) as Body;
      calls++;
      seen.push(...ids(body, 'items'));
      state = body.state;
      if (!body.hasMore) break;
      expect(calls).toBeLessThan(20);
    }
    expect(calls).toBeGreaterThan(3);
    expect(seen).toEqual(Array.from({length: 10}, (_, b) => Array.from({length: 40}, (_, i) => b * 1000 + i)).flat());
    expect(state).toEqual({batch: 10});
  });

  it('ends a response that failed after it began with the committed rows, the committed state and hasMore', async () => {
    const url = await serve(batches, 1024);
    const answer = await post(url, {state: {}, secrets: {batches: '5', rows: '20', fail_after: '1'}});
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.text) as Body;
    expect(body).toMatchObject({state: {batch: 2}, hasMore: true});
    expect(ids(body, 'items')).toHaveLength(40);
    // the next call starts at the failing batch before committing anything: the error is answered as one
    const next = await post(url, {state: body.state, secrets: {batches: '5', rows: '20', fail_after: '1'}});
    expect(next.status).toBe(400);
    expect(JSON.parse(next.text)).toMatchObject({errorType: 'InvalidConfiguration'});
  });

  it("runs the sync outside functions-framework's per-request domain (every event of an emitter made inside one pays for it)", async () => {
    let domainInSync: unknown = 'not run';
    const probe = defineConnector({
      name: 'probe',
      secrets: z.object({}),
      tables: {},
      async test() {},
      async *sync() {
        domainInSync = (process as unknown as {domain?: unknown}).domain ?? null;
        yield checkpoint({done: true});
      },
    });
    // the framework does run handlers in a domain: the check below would pass vacuously otherwise
    let domainInPlainHandler: unknown = 'not run';
    const plain = createFunctionServer(`plain-${Date.now()}`, (_req, res) => {
      domainInPlainHandler = (process as unknown as {domain?: unknown}).domain ?? null;
      res.status(200).send('{}');
    });
    servers.push(plain);
    await post(await listen(plain, 0), {});
    expect(domainInPlainHandler).not.toBeNull();
    const url = await serve(probe, 1024);
    expect((await post(url, {state: {}, secrets: {}})).status).toBe(200);
    expect(domainInSync).toBeNull();
  });

  it('stops the sync when the caller goes away mid-response', async () => {
    const url = await serve(batches, 1024);
    let ended!: () => void;
    const syncEnded = new Promise<void>((resolve) => (ended = resolve));
    hooks.ended = ended;
    let release!: () => void;
    hooks.afterFirstCheckpoint = () => new Promise<void>((resolve) => (release = resolve));
    await new Promise<void>((resolve, reject) => {
      const payload = JSON.stringify({state: {}, secrets: {batches: '1000', rows: '50'}});
      const req = request(url, {method: 'POST', headers: {'content-type': 'application/json'}}, (res) => {
        res.once('data', () => {
          req.destroy();
          // let the sync go on once the connection is gone: it must notice and end
          setTimeout(() => release(), 50);
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.end(payload);
      setTimeout(() => reject(new Error('no bytes arrived')), 5000);
    });
    await syncEnded;
  });
});

describe('handleFunctionCall with a stream', () => {
  function collector(): ResponseStream & {parts: string[]; starts: number; ended: boolean} {
    const stream = {
      parts: [] as string[],
      starts: 0,
      ended: false,
      start: () => void stream.starts++,
      write: (parts: readonly Chunk[]) => {
        stream.parts.push(...parts.map(String));
        return true;
      },
      drained: async () => undefined,
      end: (parts: readonly Chunk[]) => {
        stream.parts.push(...parts.map(String));
        stream.ended = true;
      },
    };
    return stream;
  }

  it('starts once, returns no body, and the parts form the whole response', async () => {
    const stream = collector();
    const result = await handleFunctionCall(batches, {state: {}, secrets: {batches: '3', rows: '30'}}, {stream, streamAfterBytes: 1024, sink: () => undefined});
    expect(result).toMatchObject({status: 200, body: '', streamed: true, summary: {hasMore: false, rows: {items: 90, notes: 3}}});
    expect(stream.starts).toBe(1);
    expect(stream.ended).toBe(true);
    const text = stream.parts.join('');
    expect(result.summary!.bytes).toBe(Buffer.byteLength(text));
    const body = JSON.parse(text) as Body;
    expect(ids(body, 'items')).toHaveLength(90);
    expect(body.state).toEqual({batch: 3});
  });

  it('does not stream an error that comes before the response began', async () => {
    const stream = collector();
    const result = await handleFunctionCall(batches, {state: {}, secrets: {batches: '3', rows: '5', fail_after: '0'}}, {stream, streamAfterBytes: 1024 * 1024, sink: () => undefined});
    expect(result.status).toBe(400);
    expect(stream.starts).toBe(0);
  });

  it('ends the sync (its finally runs) when the adapter itself rejects a record', async () => {
    let ended = false;
    hooks.ended = () => (ended = true);
    const result = await handleFunctionCall(batches, {state: {}, secrets: {batches: '3', rows: '5', fail_after: '0', fail_kind: 'undeclared'}}, {sink: () => undefined});
    expect(result.status).toBe(500);
    expect(JSON.parse(result.body).errorMessage).toContain('undeclared table "nowhere"');
    expect(ended).toBe(true);
  });

  it('runs a declared table streamed as well', async () => {
    const discovered = defineConnector({
      name: 'discovered',
      secrets: z.object({}),
      tables: {},
      async test() {},
      async *sync() {
        yield declareTable('found', {primaryKey: ['id']});
        for (let i = 0; i < 4; i++) {
          yield upsertJson('found', Array.from({length: 20}, (_, j) => JSON.stringify({id: i * 20 + j, pad: 'y'.repeat(80)})).join(','), 20);
          yield checkpoint({i});
        }
      },
    });
    const stream = collector();
    const result = await handleFunctionCall(discovered, {state: {}, secrets: {}}, {stream, streamAfterBytes: 512, sink: () => undefined});
    expect(result.streamed).toBe(true);
    const body = JSON.parse(stream.parts.join('')) as Body;
    expect(ids(body, 'found')).toEqual(Array.from({length: 80}, (_, i) => i));
    expect(body.schema).toEqual({found: {primary_key: ['id']}});
  });
});
