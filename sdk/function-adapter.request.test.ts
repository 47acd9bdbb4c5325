// What the adapter answers for requests it cannot serve, in process and over real HTTP (functions-framework):
// a one-line JSON error that says what was wrong, never a 500 or a stack overflow.
import got from 'got';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {z} from 'zod';
import {defineConnector} from './connector.js';
import {SourceError} from './errors.js';
import {handleFunctionCall, MAX_NESTING_DEPTH, MAX_REQUEST_BYTES} from './function-adapter.js';
import {field} from './secrets.js';
import {serveConnector, type ServedConnector} from './testing.js';
import {checkpoint, upsert} from './types.js';

const echo = defineConnector({
  name: 'echo',
  secrets: z.object({host: field.text().optional(), password: field.secret().optional(), api_url: field.text().optional()}),
  tables: {items: {primaryKey: ['id']}},
  async test() {},
  async *sync({secrets, state}) {
    if (secrets.api_url) throw new SourceError(`cannot reach ${secrets.api_url} (ECONNREFUSED)`, {cause: new Error(`connect ECONNREFUSED ${secrets.api_url}`)});
    yield upsert('items', {id: 1, host: secrets.host ?? null});
    yield checkpoint({...state, done: true});
  },
});

const deepState = (levels: number) => `${'{"a":'.repeat(levels)}{}${'}'.repeat(levels)}`;

let served: ServedConnector;
beforeAll(async () => {
  served = await serveConnector(echo);
});
afterAll(() => served.close());

const post = (body: string | Buffer, contentType = 'application/json') =>
  got.post(served.url, {body, headers: {'content-type': contentType}, throwHttpErrors: false, retry: {limit: 0}, responseType: 'text'});

async function inProcess(body: unknown) {
  const lines: string[] = [];
  const result = await handleFunctionCall(echo, body, {sink: (line) => lines.push(line)});
  return {status: result.status, body: JSON.parse(result.body) as {errorMessage?: string; errorType?: string}, lines};
}

describe('requests the adapter refuses', () => {
  it('answers a JSON string body with 400 saying the body must be an object and what it found', async () => {
    const expected = {errorMessage: 'the request body must be a JSON object like {"state": {}, "secrets": {...}}, not a string; send a JSON object with Content-Type: application/json', errorType: 'InvalidRequest'};
    const http = await post('"hello"');
    expect(http.statusCode).toBe(400);
    expect(JSON.parse(http.body)).toEqual(expected);
    // as text/plain the framework hands the text over: the adapter reads it and says the same
    const text = await post('"hello"', 'text/plain');
    expect(text.statusCode).toBe(400);
    expect(JSON.parse(text.body).errorMessage).toBe('the request body must be a JSON object like {"state": {}, "secrets": {...}}, not a string; check the caller');
    expect((await inProcess('hello')).body.errorMessage).toBe('the request body must be a JSON object like {"state": {}, "secrets": {...}}, not a string; check the caller');
    expect(JSON.parse((await post('{"state": ')).body).errorMessage).toBe('the request body is not valid JSON; send a JSON object with Content-Type: application/json');
  });

  it('answers a NUL character in a secret value with a one-line 400 naming the key', async () => {
    const message = "Invalid secrets: host contains a NUL character (\\u0000). Fix these keys in the connection's secrets.";
    const local = await inProcess({state: {}, secrets: {host: 'db\u0000.internal', password: 'pw'}});
    expect(local).toMatchObject({status: 400, body: {errorMessage: message, errorType: 'InvalidSecrets'}});
    const http = await post(JSON.stringify({state: {}, secrets: {host: 'db\u0000.internal'}}));
    expect(http.statusCode).toBe(400);
    expect(JSON.parse(http.body)).toEqual({errorMessage: message, errorType: 'InvalidSecrets'});
  });

  it(`answers a body over ${MAX_REQUEST_BYTES / 1024 / 1024} MiB with a one-line 413 giving the limit`, async () => {
    const big = JSON.stringify({state: {blob: 'x'.repeat(50 * 1024 * 1024)}, secrets: {}});
    const http = await post(big);
    expect(http.statusCode).toBe(413);
    expect(JSON.parse(http.body)).toEqual({errorMessage: 'the request body is 50 MiB, over the 32 MiB a Cloud Function accepts; send a smaller state and secrets', errorType: 'RequestTooLarge'});
    const local = await inProcess(JSON.parse(big));
    expect(local).toMatchObject({status: 413, body: {errorType: 'RequestTooLarge'}});
    expect(local.body.errorMessage).toMatch(/^the request body is 50 MiB, over the 32 MiB/);
  }, 60_000);

  it(`answers a state nested more than ${MAX_NESTING_DEPTH} levels deep with a 400, and takes one at the limit`, async () => {
    const message = `"state" is nested more than ${MAX_NESTING_DEPTH} levels deep; no connector writes such a state: send the state of the last response, or {} to start over`;
    const http = await post(`{"secrets": {}, "state": ${deepState(2_000_000)}}`);
    expect(http.statusCode).toBe(400);
    expect(JSON.parse(http.body)).toEqual({errorMessage: message, errorType: 'InvalidRequest'});
    const local = await inProcess(JSON.parse(`{"state": ${deepState(5000)}}`));
    expect(local).toMatchObject({status: 400, body: {errorMessage: message}});
    const atLimit = await post(`{"state": ${deepState(MAX_NESTING_DEPTH - 1)}}`);
    expect(atLimit.statusCode).toBe(200);
  }, 60_000);

  it('redacts the password of a URL in the error answered and in the log, whatever the key', async () => {
    const local = await inProcess({state: {}, secrets: {api_url: 'http://user:s3cr3t-pw@api.internal:8080/v1'}});
    expect(local.status).toBe(500);
    expect(local.body.errorMessage).toBe('cannot reach http://user:[REDACTED]@api.internal:8080/v1 (ECONNREFUSED)');
    expect(local.lines.join('\n')).not.toContain('s3cr3t-pw');
    expect(local.lines.join('\n')).toContain('connect ECONNREFUSED http://user:[REDACTED]@api.internal:8080/v1');
  });
});
