// ./fivetran serve <connector|function>: the connector's `main` on functions-framework, answering exactly as
// the deployed Cloud Function would.
import {createFunctionServer, listen} from '../sdk/server.js';
import {createMain} from '../sdk/function-adapter.js';
import {loadConnector, projectRoot, resolveTarget} from './project.js';
import {UsageError} from './errors.js';

export interface ServeOptions {
  target: string;
  port?: number;
  host?: string;
  cwd?: string;
}

export async function serveFunction(options: ServeOptions): Promise<{url: string; close: () => Promise<void>}> {
  const root = projectRoot(options.cwd);
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${options.port} must be a port number from 0 to 65535`);
  const target = resolveTarget(root, options.target);
  const connector = await loadConnector(root, target.connector);
  const server = createFunctionServer(target.functionName, createMain(connector));
  const url = await listen(server, port, options.host ?? '127.0.0.1');
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
