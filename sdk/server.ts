// Serves a connector's `main` on functions-framework, as a deployed Cloud Function answers. Adds one thing
// the framework lacks: a body its parser refuses gets the contract's JSON error, not an HTML page: 400 for
// text that is not JSON or JSON that is not an object (the parser's strict mode refuses "hello" as unparsable),
// 413 for a body over the parser's limit.
import type {Server} from 'node:http';
import {http, type HttpFunction} from '@google-cloud/functions-framework';
import {getTestServer} from '@google-cloud/functions-framework/testing';
import {describeJsonValue, MAX_REQUEST_BYTES} from './function-adapter.js';

type ExpressLike = {use: (handler: (error: unknown, req: unknown, res: JsonResponse, next: (error?: unknown) => void) => void) => void};
type JsonResponse = {headersSent: boolean; status: (code: number) => JsonResponse; type: (type: string) => JsonResponse; send: (body: string) => void};

export function createFunctionServer(name: string, main: HttpFunction): Server {
  http(name, main);
  const server = getTestServer(name);
  const app = server.listeners('request')[0] as unknown as ExpressLike;
  app.use((error, _req, res, next) => {
    if (res.headersSent) return next(error);
    const {type, body: raw} = error as {type?: string; body?: unknown};
    let status = 500;
    let body = {errorMessage: 'the function could not read the request', errorType: 'InternalError'};
    if (type === 'entity.parse.failed') {
      status = 400;
      body = {errorMessage: `the request body ${notAnObject(raw) ?? 'is not valid JSON'}; send a JSON object with Content-Type: application/json`, errorType: 'InvalidRequest'};
    } else if (type === 'entity.too.large') {
      status = 413;
      body = {errorMessage: `the request body is over the ${MAX_REQUEST_BYTES / 1024 / 1024} MiB a Cloud Function accepts; send a smaller state and secrets`, errorType: 'RequestTooLarge'};
    }
    res.status(status).type('application/json').send(JSON.stringify(body));
  });
  return server;
}

/** "must be a JSON object, not a string" when the text is valid JSON of another kind; undefined when not JSON. */
function notAnObject(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    return `must be a JSON object like {"state": {}, "secrets": {...}}, not ${describeJsonValue(JSON.parse(raw))}`;
  } catch {
    return undefined;
  }
}

/** Starts the server on `port` (0 = any free port) and resolves with its base URL. */
export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  return `http://${host}:${address.port}`;
}
