// ./fivetran serve <connector|function>: the connector's `main` on functions-framework, answering exactly as
// the deployed Cloud Function would; with `grpc`, the connector as a Fivetran Partner SDK source connector.
import {resolveTarget} from '../project/deploy-yaml.js';
import {loadConnector, projectRoot} from '../project/root.js';
import {createFunctionServer, listen} from '../sdk/server.js';
import {createMain} from '../sdk/function-adapter.js';
import {CliConfigError, portInUse, UsageError} from './errors.js';

/** A server that could not listen: one line, naming the port and --port when it is taken. */
function listenFailed(error: unknown, port: number, host: string): Error {
  if ((error as {code?: string}).code === 'EADDRINUSE') return portInUse(port);
  return new CliConfigError(`cannot listen on ${host}:${port}: ${(error as Error).message}; pick another --host or --port`);
}

export interface ServeOptions {
  target: string;
  port?: number;
  host?: string;
  cwd?: string;
  /** serve the Partner SDK `SourceConnector` gRPC service instead (default port 50051; 127.0.0.1 unless `host`) */
  grpc?: boolean;
}

export async function serveFunction(options: ServeOptions): Promise<{url: string; close: () => Promise<void>}> {
  if (options.grpc) return servePartnerSdk(options);
  const root = projectRoot(options.cwd);
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${options.port} must be a port number from 0 to 65535`);
  const target = resolveTarget(root, options.target);
  const connector = await loadConnector(root, target.connector);
  const server = createFunctionServer(target.functionName, createMain(connector));
  let url: string;
  try {
    url = await listen(server, port, options.host ?? '127.0.0.1');
  } catch (error) {
    throw listenFailed(error, port, options.host ?? '127.0.0.1');
  }
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The connector's Partner SDK v2 gRPC server. It is plaintext, so it listens on 127.0.0.1 unless `host` says
 * otherwise (`0.0.0.0` for every IPv4 address, `::` for every IPv4 and IPv6 address).
 */
export async function servePartnerSdk(options: ServeOptions): Promise<{url: string; close: () => Promise<void>}> {
  const {DEFAULT_SOURCE_PORT, startPartnerSdkServer} = await import('../sdk/partner-sdk/server.js');
  const root = projectRoot(options.cwd);
  const port = options.port ?? DEFAULT_SOURCE_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${options.port} must be a port number from 0 to 65535`);
  const target = resolveTarget(root, options.target);
  const connector = await loadConnector(root, target.connector);
  const host = options.host ?? '127.0.0.1';
  let running;
  try {
    running = await startPartnerSdkServer(connector, {port, host});
  } catch (error) {
    throw listenFailed(error, port, host);
  }
  return {url: `grpc://${running.addresses[0]}`, close: running.close};
}
