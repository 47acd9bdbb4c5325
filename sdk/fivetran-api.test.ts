import http from 'node:http';
import type {AddressInfo} from 'node:net';
import nock from 'nock';
import {afterEach, describe, expect, it} from 'vitest';
import {AuthError, ConfigError} from './errors.js';
import {FivetranApi, FivetranApiError, GroupSchema} from './fivetran-api.js';

const base = 'https://api.fivetran.test';
const api = () => new FivetranApi({apiKey: 'key-123', apiSecret: 'secret-456', baseUrl: base, baseDelayMs: 1, retries: 2});
const connection = (id: string) => ({id, group_id: 'g1', service: 'postgres', schema: `s_${id}`, paused: false, status: {sync_state: 'scheduled'}});
const auth = `Basic ${Buffer.from('key-123:secret-456').toString('base64')}`;

describe('FivetranApi', () => {
  it('sends Basic auth and the versioned Accept header and unwraps data', async () => {
    nock(base, {reqheaders: {authorization: auth, accept: 'application/json;version=2'}})
      .get('/v1/connections/c1')
      .reply(200, {code: 'Success', data: connection('c1')});
    const result = await api().getConnection('c1');
    expect(result).toEqual({data: connection('c1'), status: 200, attempts: 1});
  });

  it('follows next_cursor across pages with limit 1000', async () => {
    nock(base).get('/v1/connections').query({limit: 1000}).reply(200, {code: 'Success', data: {items: [connection('a')], next_cursor: 'n1'}});
    nock(base).get('/v1/connections').query({limit: 1000, cursor: 'n1'}).reply(200, {code: 'Success', data: {items: [connection('b')]}});
    const all = await api().listConnections();
    expect(all.map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('retries 429 honouring Retry-After, then succeeds, counting attempts', async () => {
    nock(base).post('/v1/connections/c1/sync', {force: false}).reply(429, {code: 'TooManyRequests'}, {'Retry-After': '0'});
    nock(base).post('/v1/connections/c1/sync', {force: false}).reply(200, {code: 'Success', message: 'Sync has been successfully triggered'});
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

  afterEach(() => nock.cleanAll());

  it("names the caller's keys for the credentials and the URL, never their values", async () => {
    const credentialKeys = {apiKey: 'FIVETRAN_API_KEY', apiSecret: 'FIVETRAN_API_SECRET', url: 'FIVETRAN_API_URL'};
    nock(base).get('/v1/connections/c1').reply(401, {code: 'Unauthorized'});
    const unauthorized = await new FivetranApi({apiKey: 'key-123', apiSecret: 'secret-456', baseUrl: base, credentialKeys}).getConnection('c1').catch((e: unknown) => e);
    expect((unauthorized as Error).message).toBe('Fivetran API rejected the credentials (401) for connection "c1"; check FIVETRAN_API_KEY and FIVETRAN_API_SECRET');
    expect(() => new FivetranApi({apiKey: 'k', apiSecret: 's', baseUrl: 'http://user:pw-d0d0@api.fivetran.test', credentialKeys})).toThrow(
      'FIVETRAN_API_URL "http://[REDACTED]@api.fivetran.test" holds credentials (user:password@); remove them: the API key and secret go in FIVETRAN_API_KEY and FIVETRAN_API_SECRET',
    );
  });


  it('sends a POST the API answers 5xx once, saying the sync may have started', async () => {
    const scope = nock(base).post('/v1/connections/c1/sync').times(3).reply(503, {code: 'Unavailable', message: 'down'});
    const error = await api().triggerSync('c1', true).catch((e: unknown) => e);
    expect(scope.pendingMocks()).toHaveLength(1);
    expect(error).toMatchObject({httpStatus: 503, attempts: 1, outcomeUnknown: true});
    expect((error as Error).message).toBe('Fivetran API answered 503 for sync of connection "c1" (Unavailable: down); not retried; the sync may have started');
  });

  it('sends a POST that gets no answer once, naming the endpoint and how long it waited', async () => {
    const posts: string[] = [];
    const server = http.createServer((req) => void posts.push(`${req.method} ${req.url}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const client = new FivetranApi({apiKey: 'k', apiSecret: 's', baseUrl: url, baseDelayMs: 1, retries: 4, timeoutMs: 300});
      const error = await client.triggerSync('c1', true).catch((e: unknown) => e);
      expect(posts).toEqual(['POST /v1/connections/c1/sync']);
      expect(error).toMatchObject({httpStatus: 0, attempts: 1, outcomeUnknown: true});
      expect((error as Error).message).toMatch(/^the Fivetran API at 127\.0\.0\.1:\d+ did not answer POST \/v1\/connections\/c1\/sync within 0\.\d s; the sync may have started$/);

      // a read is retried, and all of it ends within the time the caller has left
      posts.length = 0;
      const started = Date.now();
      const bounded = new FivetranApi({apiKey: 'k', apiSecret: 's', baseUrl: url, baseDelayMs: 1, retries: 4, timeLeftMs: () => 700});
      const late = await bounded.getConnection('c1').catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(1500);
      expect((late as Error).message).toMatch(/^the Fivetran API at 127\.0\.0\.1:\d+ did not answer GET \/v1\/connections\/c1 within 0\.\d s/);

      // the caller's signal (a Function call's deadline) ends a request at once
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('deadline')), 200);
      const aborted = await new FivetranApi({apiKey: 'k', apiSecret: 's', baseUrl: url, signal: controller.signal}).getConnection('c1').catch((e: unknown) => e);
      expect((aborted as Error).message).toMatch(/did not answer GET \/v1\/connections\/c1 within 0\.\d s \(the call's deadline\)$/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it.each([
    {name: 'a 200 {}', body: {}, says: "not the API's envelope {code, message, data} (code: Invalid input: expected string, received undefined)"},
    {name: 'data: null', body: {code: 'Success', data: null}, says: 'an unexpected answer (data: Invalid input: expected object, received null)'},
    {name: 'a connection without its status', body: {code: 'Success', data: {...connection('c1'), status: undefined}}, says: 'an unexpected answer (data.status: Invalid input: expected object, received undefined)'},
  ])('refuses $name for a connection, naming the endpoint', async ({body, says}) => {
    nock(base).get('/v1/connections/c1').reply(200, body);
    const error = await api().getConnection('c1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FivetranApiError);
    expect((error as Error).message).toBe(`the Fivetran API answered GET /v1/connections/c1 with 200 and ${says}`);
  });

  it('refuses a list whose items are not a list', async () => {
    nock(base).get('/v1/connections').query(true).reply(200, {code: 'Success', data: {items: 'notalist'}});
    const error = await api().listConnections().catch((e: unknown) => e);
    expect((error as Error).message).toBe('the Fivetran API answered GET /v1/connections with 200 and an unexpected answer (data.items: Invalid input: expected array, received string)');
  });

  it('stops at a next_cursor it already gave instead of reading the same pages forever', async () => {
    const scope = nock(base)
      .get('/v1/groups').query({limit: 1000}).reply(200, {code: 'Success', data: {items: [{id: 'g1', name: 'one'}], next_cursor: 'again'}})
      .get('/v1/groups').query({limit: 1000, cursor: 'again'}).times(100).reply(200, {code: 'Success', data: {items: [{id: 'g2', name: 'two'}], next_cursor: 'again'}});
    const error = await api().listAll('groups', GroupSchema).catch((e: unknown) => e);
    expect(scope.pendingMocks()).toHaveLength(1); // two requests of the 101 allowed
    expect((error as Error).message).toBe('the Fivetran API answered GET /v1/groups with a next_cursor it had already given ("again") after 2 pages; stopped rather than read the same pages again');
  });

  it('says the API answered invalid JSON, with the status and the endpoint', async () => {
    nock(base).get('/v1/connections/c1').reply(200, '{"code": "Success", "data": {', {'content-type': 'application/json'});
    const error = await api().getConnection('c1').catch((e: unknown) => e);
    expect((error as Error).message).toBe('the Fivetran API answered GET /v1/connections/c1 with 200 and a body that is not JSON ("{\\"code\\": \\"Success\\", \\"data\\": {")');
  });

  // the shape of Fivetran's documented answer to GET /v1/transformations/{id} (docs/fivetran.md §2, "Transformations")
  const transformation = {
    id: 'transformation_id', status: 'RUNNING', type: 'QUICKSTART', paused: false, created_at: '2024-01-02T00:00:00.743708Z', created_by_id: 'user_id',
    schedule: {schedule_type: 'INTEGRATED', days_of_week: ['MONDAY']}, output_model_names: ['stripe__balance_transactions'],
    last_started_at: '2024-01-03T00:00:00Z',
    transformation_config: {package_name: 'stripe', connection_ids: ['conn_1'], excluded_models: [], upgrade_available: true, configurable_variables: {start_date: '2020-01-01'}},
  };

  it('reads a transformation, keeping fields the client does not name', async () => {
    nock(base).get('/v1/transformations/transformation_id').reply(200, {code: 'Success', message: 'Operation performed.', data: transformation});
    const {data} = await api().getTransformation('transformation_id');
    expect(data).toEqual(transformation);
    expect(data.transformation_config?.package_name).toBe('stripe');
  });

  it('lists transformations of a type across pages', async () => {
    nock(base).get('/v1/transformations').query({limit: 1000, type: 'QUICKSTART'}).reply(200, {code: 'Success', data: {items: [transformation], next_cursor: 'p2'}});
    nock(base).get('/v1/transformations').query({limit: 1000, type: 'QUICKSTART', cursor: 'p2'}).reply(200, {code: 'Success', data: {items: [{...transformation, id: 't2'}]}});
    expect((await api().listTransformations('QUICKSTART')).map((t) => t.id)).toEqual(['transformation_id', 't2']);
  });

  it('refuses a transformation without its status, naming the field', async () => {
    nock(base).get('/v1/transformations/t1').reply(200, {code: 'Success', data: {...transformation, status: undefined}});
    await expect(api().getTransformation('t1')).rejects.toThrow('the Fivetran API answered GET /v1/transformations/t1 with 200 and an unexpected answer (data.status: Invalid input: expected string, received undefined)');
  });

  it('starts a transformation run once, even when the API answers 5xx', async () => {
    const scope = nock(base).post('/v1/transformations/t1/run', {}).times(2).reply(502, {code: 'BadGateway', message: 'upstream'});
    const error = await api().runTransformation('t1').catch((e: unknown) => e);
    expect(scope.pendingMocks()).toHaveLength(1);
    expect((error as Error).message).toBe('Fivetran API answered 502 for run of transformation "t1" (BadGateway: upstream); not retried; the run may have started');
  });

  it('refuses credentials inside the URL without repeating them', () => {
    const error = (() => {
      try {
        return new FivetranApi({apiKey: 'k', apiSecret: 's', baseUrl: 'http://user:pw-d0d0@api.fivetran.test'});
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'fivetran_api_url "http://[REDACTED]@api.fivetran.test" holds credentials (user:password@); remove them: the API key and secret go in fivetran_api_key and fivetran_api_secret',
    );
    expect(() => new FivetranApi({apiKey: 'k', apiSecret: 's', baseUrl: 'ftp://user:pw-d0d0@host'})).toThrow('fivetran_api_url "ftp://[REDACTED]@host" must start with http:// or https://');
  });
});
