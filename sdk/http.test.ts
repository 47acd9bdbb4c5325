import http from 'node:http';
import type {AddressInfo} from 'node:net';
import nock from 'nock';
import {afterEach, beforeAll, afterAll, describe, expect, it} from 'vitest';
import {AuthError, ConfigError, DeadlineError, SourceError} from './errors.js';
import {createHttpClient, HttpFailure, toConnectorError, type HttpClientOptions} from './http.js';

const origin = 'https://api.example.test';
const base = `${origin}/v2`;
const token = 'tok_9a8b7c6d5e';
const client = (options: Partial<HttpClientOptions> = {}) =>
  createHttpClient({prefixUrl: base, headers: {authorization: `Bearer ${token}`}, retry: {limit: 2, baseDelayMs: 1}, ...options});
const failure = (promise: Promise<unknown>) => promise.then(() => expect.fail('the request succeeded'), (error: unknown) => error);
const keys = {credentialKeys: ['example_api_token']};

afterEach(() => nock.cleanAll());

describe('createHttpClient', () => {
  it('sends the headers and the query to the prefix URL and parses JSON, counting attempts', async () => {
    nock(origin, {reqheaders: {authorization: `Bearer ${token}`}}).get('/v2/invoices').query({limit: 10}).reply(200, {items: [1, 2]});
    const response = await client().json<{items: number[]}>('GET', 'invoices', {searchParams: {limit: 10, cursor: undefined}});
    expect(response).toMatchObject({status: 200, body: {items: [1, 2]}, attempts: 1});
  });

  it('retries a GET on 503 and on 429 honouring Retry-After, then succeeds', async () => {
    nock(origin).get('/v2/invoices').reply(503, {message: 'down'}).get('/v2/invoices').reply(429, {}, {'Retry-After': '0'}).get('/v2/invoices').reply(200, '[]');
    expect(await client().json('GET', 'invoices')).toMatchObject({body: [], attempts: 3});
  });

  it('sends a POST the source answers 503 once, and retries a POST refused with 429', async () => {
    const scope = nock(origin).post('/v2/exports').times(3).reply(503, {message: 'down'});
    const error = await failure(client().request('POST', 'exports', {json: {}}));
    expect(scope.pendingMocks()).toHaveLength(1);
    expect(error).toMatchObject({kind: 'status', status: 503, attempts: 1, outcomeUnknown: true});
    nock.cleanAll();
    nock(origin).post('/v2/exports').reply(429, {}, {'Retry-After': '0'}).post('/v2/exports').reply(201, '{}');
    expect(await client().request('POST', 'exports', {json: {}})).toMatchObject({status: 201, attempts: 2});
  });

  it('refuses a prefix URL that holds user:password@ without repeating it', () => {
    expect(() => createHttpClient({prefixUrl: 'https://bob:pw-77aa@api.example.test'})).toThrow(
      new ConfigError('"https://[REDACTED]@api.example.test" holds credentials (user:password@); pass them in a header instead'),
    );
    expect(() => createHttpClient({prefixUrl: 'ftp://api.example.test'})).toThrow('must start with http:// or https://');
  });
});

describe('createHttpClient against a server that never answers', () => {
  const received: string[] = [];
  const server = http.createServer((req) => void received.push(`${req.method} ${req.url}`));
  let url: string;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterEach(() => void (received.length = 0));
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends a POST once when no answer comes, saying it may have been carried out', async () => {
    const error = await failure(client({prefixUrl: url, retry: {limit: 4, baseDelayMs: 1}, timeoutMs: 200}).request('POST', 'exports', {json: {}}));
    expect(received).toEqual(['POST /api/exports']);
    expect(toConnectorError(error, {what: 'the export'}).message).toMatch(
      /^127\.0\.0\.1:\d+ did not answer the export \(POST \/api\/exports\) within 0\.\d s; it may have been carried out$/,
    );
  });

  it('retries a GET when no answer comes, all of it within the time the caller has left', async () => {
    const started = Date.now();
    const error = await failure(client({prefixUrl: url, retry: {limit: 4, baseDelayMs: 1}, timeoutMs: 150, timeLeftMs: () => 700}).request('GET', 'invoices'));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(received.length).toBeGreaterThan(1);
    const mapped = toConnectorError(error);
    expect(mapped).toBeInstanceOf(SourceError);
    expect(mapped).toMatchObject({retriable: true});
    expect(mapped.message).toMatch(/^127\.0\.0\.1:\d+ did not answer GET \/api\/invoices within 0\.\d s after \d attempts$/);
  });

  it("ends a request when the caller's signal aborts, and sends none once it has", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('deadline')), 200);
    const http = client({prefixUrl: url, signal: controller.signal});
    const aborted = toConnectorError(await failure(http.request('GET', 'invoices')));
    expect(aborted).toBeInstanceOf(DeadlineError);
    expect(aborted.message).toMatch(/did not answer GET \/api\/invoices within 0\.\d s \(the call's deadline\)$/);
    received.length = 0;
    const late = toConnectorError(await failure(http.request('GET', 'invoices')));
    expect(received).toEqual([]);
    expect(late).toBeInstanceOf(DeadlineError);
    expect(late.message).toMatch(/^no time was left before the call's deadline to send GET \/api\/invoices to 127\.0\.0\.1:\d+$/);
  });

  it('retries a POST whose connection was refused, since it was never sent', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(client({prefixUrl: `http://127.0.0.1:${port}`, retry: {limit: 2, baseDelayMs: 1}}).request('POST', 'exports'));
    expect(error).toMatchObject({kind: 'unreachable', code: 'ECONNREFUSED', attempts: 3, notSent: true, outcomeUnknown: false});
    const mapped = toConnectorError(error, {urlKey: 'example_api_url'});
    expect(mapped).toMatchObject({retriable: true});
    expect(mapped.message).toBe(`cannot reach 127.0.0.1:${port} for POST /exports (ECONNREFUSED) after 3 attempts; check example_api_url and the network`);
  });
});

describe('toConnectorError', () => {
  it.each([
    {name: '401', status: 401, body: {message: 'bad token'}, expectedClass: AuthError, retriable: false,
      expectedMessage: 'api.example.test rejected the credentials (401) for the invoices (GET /v2/invoices); check example_api_token'},
    {name: '403', status: 403, body: {error: {message: 'scope invoices:read required'}}, expectedClass: AuthError, retriable: false,
      expectedMessage: 'api.example.test denied the invoices (GET /v2/invoices) (403: scope invoices:read required); give the user of example_api_token permission for it'},
    {name: '404', status: 404, body: {error: 'no such account'}, expectedClass: ConfigError, retriable: false,
      expectedMessage: 'api.example.test found nothing for the invoices (GET /v2/invoices) (404: no such account); check the ids and names in the configuration'},
    {name: '429 after the retries', status: 429, body: {}, expectedClass: SourceError, retriable: true,
      expectedMessage: 'api.example.test rate limit hit on the invoices (GET /v2/invoices) after 3 attempts (429); try again later or lower the request rate'},
    {name: '502 after the retries', status: 502, body: '<html>Bad Gateway</html>', expectedClass: SourceError, retriable: true,
      expectedMessage: 'api.example.test answered 502 for the invoices (GET /v2/invoices) after 3 attempts (502: Bad Gateway)'},
    {name: '400', status: 400, body: {detail: 'limit must be at most 100'}, expectedClass: SourceError, retriable: false,
      expectedMessage: 'api.example.test answered 400 for the invoices (GET /v2/invoices) (400: limit must be at most 100)'},
  ])('maps $name to one line naming the host and the endpoint', async ({status, body, expectedClass, retriable, expectedMessage}) => {
    nock(origin).get('/v2/invoices').query(true).times(3).reply(status, body);
    const error = toConnectorError(await failure(client().json('GET', `invoices?api_key=${token}`)), {what: 'the invoices', ...keys});
    expect(error).toBeInstanceOf(expectedClass);
    expect(error).toMatchObject({message: expectedMessage, retriable});
    expect(error.cause).toBeInstanceOf(HttpFailure);
  });

  it('says a 200 whose body is not JSON is not JSON, with its start', async () => {
    nock(origin).get('/v2/invoices').reply(200, '<!doctype html><p>maintenance', {'content-type': 'text/html'});
    const error = toConnectorError(await failure(client().json('GET', 'invoices')));
    expect(error).toBeInstanceOf(SourceError);
    expect(error.message).toBe('api.example.test answered GET /v2/invoices with 200 and a body that is not JSON ("<!doctype html><p>maintenance")');
  });

  it('never shows the token, the query string or URL credentials', async () => {
    nock(origin).get('/v2/invoices').query(true).reply(401, {message: 'denied'});
    const error = await failure(client().request('GET', `invoices?api_key=${token}`));
    const mapped = toConnectorError(error, keys);
    for (const text of [mapped.message, (error as Error).message, JSON.stringify(error)]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain('api_key=');
    }
  });

  it('passes a ConnectorError and other errors through unchanged', () => {
    const config = new ConfigError('bad table');
    const bug = new TypeError('x is undefined');
    expect(toConnectorError(config)).toBe(config);
    expect(toConnectorError(bug)).toBe(bug);
  });
});
