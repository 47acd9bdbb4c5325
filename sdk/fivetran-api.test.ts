import nock from 'nock';
import {describe, expect, it} from 'vitest';
import {AuthError} from './errors.js';
import {FivetranApi, FivetranApiError} from './fivetran-api.js';

const base = 'https://api.fivetran.test';
const api = () => new FivetranApi({apiKey: 'key-123', apiSecret: 'secret-456', baseUrl: base, baseDelayMs: 1, retries: 2});
const auth = `Basic ${Buffer.from('key-123:secret-456').toString('base64')}`;

describe('FivetranApi', () => {
  it('sends Basic auth and the versioned Accept header and unwraps data', async () => {
    nock(base, {reqheaders: {authorization: auth, accept: 'application/json;version=2'}})
      .get('/v1/connections/c1')
      .reply(200, {code: 'Success', data: {id: 'c1', paused: false}});
    const result = await api().getConnection('c1');
    expect(result).toEqual({data: {id: 'c1', paused: false}, status: 200, attempts: 1});
  });

  it('follows next_cursor across pages with limit 1000', async () => {
    nock(base).get('/v1/connections').query({limit: 1000}).reply(200, {code: 'Success', data: {items: [{id: 'a'}], next_cursor: 'n1'}});
    nock(base).get('/v1/connections').query({limit: 1000, cursor: 'n1'}).reply(200, {code: 'Success', data: {items: [{id: 'b'}]}});
    const all = await api().listConnections();
    expect(all.map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('retries 429 honouring Retry-After, then succeeds, counting attempts', async () => {
    nock(base).post('/v1/connections/c1/sync', {force: false}).reply(429, {code: 'TooManyRequests'}, {'Retry-After': '0'});
    nock(base).post('/v1/connections/c1/sync', {force: false}).reply(200, {code: 'Success', data: {}});
    const result = await api().triggerSync('c1');
    expect(result.attempts).toBe(2);
  });

  it('gives up after the retries on 5xx with the attempts in the message', async () => {
    nock(base).get('/v1/connections/c1').times(3).reply(503, {code: 'Unavailable', message: 'down'});
    const error = await api().getConnection('c1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FivetranApiError);
    expect(error).toMatchObject({httpStatus: 503, attempts: 3, retriable: true});
    expect((error as Error).message).toContain('after 3 attempts');
  });

  it('fails at once on 401 naming the credentials, and on 404 naming the connection', async () => {
    nock(base).get('/v1/connections/c1').reply(401, {code: 'Unauthorized'});
    const unauthorized = await api().getConnection('c1').catch((e: unknown) => e);
    expect(unauthorized).toBeInstanceOf(AuthError);
    expect((unauthorized as Error).message).toContain('check fivetran_api_key and fivetran_api_secret');
    expect((unauthorized as Error).message).not.toContain('secret-456');
    nock(base).get('/v1/connections/nope').reply(404, {code: 'NotFound_Connection', message: 'Connection with id nope not found'});
    const missing = await api().getConnection('nope').catch((e: unknown) => e);
    expect(missing).toMatchObject({httpStatus: 404, attempts: 1});
    expect((missing as Error).message).toContain('connection "nope"');
  });
});
