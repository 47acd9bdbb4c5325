// Serves a connector's `main` on functions-framework, as a deployed Cloud Function answers. Adds one thing
// the framework lacks: a body that is not valid JSON gets the contract's 400 JSON error, not an HTML page.
import type {Server} from 'node:http';
import {http, type HttpFunction} from '@google-cloud/functions-framework';
import {getTestServer} from '@google-cloud/functions-framework/testing';

type ExpressLike = {use: (handler: (error: unknown, req: unknown, res: JsonResponse, next: (error?: unknown) => void) => void) => void};
type JsonResponse = {headersSent: boolean; status: (code: number) => JsonResponse; type: (type: string) => JsonResponse; send: (body: string) => void};

export function createFunctionServer(name: string, main: HttpFunction): Server {
  http(name, main);
  const server = getTestServer(name);
  const app = server.listeners('request')[0] as unknown as ExpressLike;
  app.use((error, _req, res, next) => {
    if (res.headersSent) return next(error);
    const parseFailed = (error as {type?: string}).type === 'entity.parse.failed';
    const status = parseFailed ? 400 : 500;
    const body = parseFailed
      ? {errorMessage: 'the request body is not valid JSON; send a JSON object with Content-Type: application/json', errorType: 'InvalidRequest'}
      : {errorMessage: 'the function could not read the request', errorType: 'InternalError'};
    res.status(status).type('application/json').send(JSON.stringify(body));
  });
  return server;
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
