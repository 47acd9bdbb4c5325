// The HTTP contract of every function, through the real server of ./fivetran serve (functions-framework),
// with the fixture connector of test/fixtures/serve-project. Table-driven: {name, body, expectedStatus,
// expectedBody}. The adapter's internals are tested in sdk/; these cases go over HTTP.
import {createHmac} from 'node:crypto';
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {serveFunction} from './serve.js';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/serve-project/', import.meta.url));
const API_KEY = 'ck_live_5f1e0c9a7b';
const secrets = {api_key: API_KEY, rows: '2'};

interface ContractCase {
  name: string;
  method?: string;
  /** an object is sent as JSON; a string is sent as is */
  body?: unknown;
  contentType?: string;
  expectedStatus: number;
  expectedBody: unknown;
  /** text that must not appear in the response (secret and bad values) */
  absent?: string[];
}

const invalidRequest = (message: RegExp | string) => ({errorType: 'InvalidRequest', errorMessage: typeof message === 'string' ? message : expect.stringMatching(message)});

const cases: ContractCase[] = [
  {name: 'refuses a GET', method: 'GET', expectedStatus: 400, expectedBody: invalidRequest('method GET is not allowed; Fivetran calls the function with POST')},
  {
    name: 'refuses JSON that does not parse with a JSON error',
    body: '{"state": {}, "secrets": ',
    contentType: 'application/json',
    expectedStatus: 400,
    expectedBody: invalidRequest('the request body is not valid JSON; send a JSON object with Content-Type: application/json'),
  },
  {
    name: 'refuses a text body that is not JSON',
    body: 'state=1',
    contentType: 'text/plain',
    expectedStatus: 400,
    expectedBody: invalidRequest('the request body is not valid JSON; send a JSON object with Content-Type: application/json'),
  },
  {name: 'refuses a JSON array', body: [{state: {}}], expectedStatus: 400, expectedBody: invalidRequest(/^the request body must be a JSON object/)},
  {name: 'refuses a state that is not an object', body: {state: 'last=2', secrets}, expectedStatus: 400, expectedBody: invalidRequest('"state" must be a JSON object; send {} on the first sync')},
  {
    name: 'refuses bad secrets naming every key, never a value',
    body: {state: {}, secrets: {api_key: '', rows: 'twenty'}},
    expectedStatus: 400,
    expectedBody: {errorType: 'InvalidSecrets', errorMessage: "Invalid secrets: api_key is required; rows must be an integer. Fix these keys in the connection's secrets."},
    absent: ['twenty'],
  },
  {
    name: 'refuses a secret out of range without echoing the secret key',
    body: {state: {}, secrets: {api_key: API_KEY, rows: '5000'}},
    expectedStatus: 400,
    expectedBody: {errorType: 'InvalidSecrets', errorMessage: expect.stringMatching(/^Invalid secrets: rows must be at most 1000\./)},
    absent: [API_KEY, '5000'],
  },
  {
    name: 'answers a passing setup test with an empty response',
    body: {setup_test: true, secrets},
    expectedStatus: 200,
    expectedBody: {state: {}, insert: {}, delete: {}, schema: {}, hasMore: false},
    absent: [API_KEY],
  },
  {
    name: 'answers a failing setup test with 500 and what to do',
    body: {setup_test: true, state: {}, secrets: {api_key: 'revoked-0c9a'}},
    expectedStatus: 500,
    expectedBody: {errorType: 'AuthenticationFailed', errorMessage: 'the api_key was revoked; create a new key and update the connection'},
  },
  {
    name: 'syncs from the state and answers the response shape',
    body: {agent: 'Fivetran Google Cloud Functions Connector/abc/counter', state: {last: 2}, secrets, sync_id: '6a3c1f5e-0d1b-4a57-9b7e-2f0c4d8e9a10'},
    expectedStatus: 200,
    expectedBody: {
      state: {last: 4},
      insert: {numbers: [{n: 3, square: 9}, {n: 4, square: 16}]},
      delete: {},
      schema: {numbers: {primary_key: ['n']}},
      hasMore: false,
    },
    absent: [API_KEY],
  },
  {
    name: 'treats a missing state as the first sync',
    body: {secrets: {api_key: API_KEY}},
    expectedStatus: 200,
    expectedBody: {
      state: {last: 3},
      insert: {numbers: [{n: 1, square: 1}, {n: 2, square: 4}, {n: 3, square: 9}]},
      delete: {},
      schema: {numbers: {primary_key: ['n']}},
      hasMore: false,
    },
  },
];

describe('./fivetran serve: the HTTP contract', () => {
  let server: {url: string; close: () => Promise<void>};

  beforeAll(async () => {
    // quiet: the adapter's JSON log lines would otherwise fill the test output
    process.env.LOG_LEVEL = 'ERROR';
    server = await serveFunction({target: 'counter-dev', port: 0, cwd: FIXTURE});
  });

  afterAll(async () => {
    delete process.env.LOG_LEVEL;
    await server?.close();
  });

  it.each(cases)('$name', async ({method = 'POST', body, contentType, expectedStatus, expectedBody, absent}) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const response = await fetch(server.url, {
      method,
      headers: payload === undefined ? {} : {'content-type': contentType ?? 'application/json'},
      body: payload,
    });
    const text = await response.text();

    expect(response.status).toBe(expectedStatus);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(text)).toEqual(expectedBody);
    for (const value of absent ?? []) expect(text).not.toContain(value);
  });
});

describe('serveFunction', () => {
  it('serves a connector by its folder name as well as by function name', async () => {
    const server = await serveFunction({target: 'counter', port: 0, cwd: path.join(FIXTURE, 'connectors')});
    try {
      const response = await fetch(server.url, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({state: {last: 9}, secrets: {api_key: 'k', rows: 1}})});
      expect(await response.json()).toMatchObject({state: {last: 10}, insert: {numbers: [{n: 10, square: 100}]}});
    } finally {
      await server.close();
    }
  });

  it("serves a function entry of deploy.yaml (the repository's fivetran-webhooks bundle), giving it the raw body to verify", async () => {
    const repo = fileURLToPath(new URL('..', import.meta.url));
    const saved = process.env.FIVETRAN_WEBHOOK_SECRET;
    process.env.FIVETRAN_WEBHOOK_SECRET = 'serve-test-secret-42';
    const server = await serveFunction({target: 'fivetran-webhooks', port: 0, cwd: repo});
    try {
      // spacing the framework's JSON parser would not keep: only the raw bytes verify
      const body = '{ "event" : "test_event" }';
      const signature = createHmac('sha256', 'serve-test-secret-42').update(body).digest('hex');
      const signed = await fetch(server.url, {method: 'POST', headers: {'content-type': 'application/json', 'x-fivetran-signature-256': signature}, body});
      expect(signed.status).toBe(200);
      const unsigned = await fetch(server.url, {method: 'POST', headers: {'content-type': 'application/json'}, body});
      expect(unsigned.status).toBe(401);
    } finally {
      await server.close();
      if (saved === undefined) delete process.env.FIVETRAN_WEBHOOK_SECRET;
      else process.env.FIVETRAN_WEBHOOK_SECRET = saved;
    }
    await expect(serveFunction({target: 'fivetran-webhooks', port: 0, cwd: repo, grpc: true})).rejects.toThrow(
      'fivetran-webhooks deploys functions/fivetran-webhooks, which is not a Fivetran connector; serve --grpc works on connector entries of deploy.yaml only',
    );
  });

  it('refuses an unknown target, naming the functions and connectors it knows', async () => {
    await expect(serveFunction({target: 'billing', port: 0, cwd: FIXTURE})).rejects.toThrow('"billing" is neither a function in deploy.yaml (counter-dev) nor a connector (counter)');
  });

  it('says a busy port is in use, naming it and --port, for HTTP and gRPC', async () => {
    const taken = await serveFunction({target: 'counter-dev', port: 0, cwd: FIXTURE});
    try {
      const port = Number(new URL(taken.url).port);
      const message = `port ${port} is in use (another server is listening there); stop it, or pick another port with --port`;
      await expect(serveFunction({target: 'counter-dev', port, cwd: FIXTURE})).rejects.toThrow(message);
      await expect(serveFunction({target: 'counter-dev', port, cwd: FIXTURE, grpc: true})).rejects.toThrow(message);
    } finally {
      await taken.close();
    }
  });

  it('refuses a port that is not a port', async () => {
    await expect(serveFunction({target: 'counter-dev', port: 70000, cwd: FIXTURE})).rejects.toThrow('--port 70000 must be a port number from 0 to 65535');
  });
});

describe('serveFunction serves the deployed bundle', () => {
  const post = async (url: string, body: unknown) =>
    (await fetch(url, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})).json();
  const request = {state: {last: 1}, secrets: {api_key: 'k', rows: 1}};

  it('serves the esbuild bundle ./fivetran deploy builds, not the sources', async () => {
    const server = await serveFunction({target: 'counter-dev', port: 0, cwd: FIXTURE});
    try {
      expect(server.bundleDir).toBeDefined();
      const code = readFileSync(path.join(server.bundleDir!, 'index.js'), 'utf8');
      // one self-contained ES module holding the connector and the SDK
      expect(code).toContain('the api_key was revoked');
      expect(code).not.toMatch(/from ['"]\.\.?\/.*\.ts['"]/);
      expect(await post(server.url, request)).toMatchObject({state: {last: 2}, insert: {numbers: [{n: 2, square: 4}]}});
    } finally {
      await server.close();
    }
    expect(existsSync(server.bundleDir!)).toBe(false);
  });

  it('serves the sources through tsx with dev', async () => {
    const server = await serveFunction({target: 'counter-dev', port: 0, cwd: FIXTURE, dev: true});
    try {
      expect(server.bundleDir).toBeUndefined();
      expect(await post(server.url, request)).toMatchObject({state: {last: 2}, insert: {numbers: [{n: 2, square: 4}]}});
    } finally {
      await server.close();
    }
  });

  it('rebuilds the bundle when a source changes, and keeps the last good build when a rebuild fails', async () => {
    // a copy at the fixture's depth, so its relative import of the SDK still resolves
    const project = mkdtempSync(path.join(path.dirname(FIXTURE), 'serve-rebuild-'));
    cpSync(FIXTURE, project, {recursive: true});
    const source = path.join(project, 'connectors', 'counter', 'index.ts');
    const rebuilds: {ok: boolean; error?: Error}[] = [];
    const server = await serveFunction({target: 'counter-dev', port: 0, cwd: project, onRebuild: (result) => rebuilds.push(result)});
    try {
      expect(await post(server.url, request)).toMatchObject({insert: {numbers: [{n: 2, square: 4}]}});
      writeFileSync(source, readFileSync(source, 'utf8').replace('square: n * n', 'square: n * n * n'));
      await server.settled!();
      expect(rebuilds).toEqual([{ok: true, ms: expect.any(Number)}]);
      expect(await post(server.url, request)).toMatchObject({insert: {numbers: [{n: 2, square: 8}]}});

      writeFileSync(source, readFileSync(source, 'utf8').replace('export const main', 'export const main = ;'));
      await server.settled!();
      expect(rebuilds[1]).toMatchObject({ok: false, error: expect.objectContaining({message: expect.stringMatching(/^bundling connector counter failed/)})});
      expect(await post(server.url, request)).toMatchObject({insert: {numbers: [{n: 2, square: 8}]}});
    } finally {
      await server.close();
      rmSync(project, {recursive: true, force: true});
    }
  });
});
