// A connector as a Fivetran Partner SDK v2 source connector: the `fivetran_sdk.v2.SourceConnector` gRPC
// service on @grpc/grpc-js (plaintext, 128 MiB messages, IPv4 and IPv6), answering ConfigurationForm, Test,
// Schema and Update from the same connector definition the Cloud Functions adapter serves.
import {once} from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type {Connector} from '../connector.js';
import {ConnectorError, RequestError, needsUserAction, toErrorResponse} from '../errors.js';
import {Logger, redactText, type LogSink} from '../log.js';
import {parseSecrets, secretValues} from '../secrets.js';
import {configurationForm} from './configuration-form.js';
import type {SourceConnectorHandlers} from './generated/fivetran_sdk/v2/SourceConnector.js';
import type {UpdateResponse} from './generated/fivetran_sdk/v2/UpdateResponse.js';
import {partnerSdkSink} from './log.js';
import {CHANNEL_OPTIONS, loadPartnerSdk} from './protocol.js';
import {knownTables, toTable} from './schema.js';
import type {EncodedMessage} from './record-encoder.js';
import {runUpdate} from './update.js';

export const DEFAULT_SOURCE_PORT = 50051;

export interface PartnerSdkOptions {
  /** where log lines go; default: Partner SDK JSON lines on stdout */
  sink?: LogSink;
}

/** The gRPC status for a failure: what the user must fix, what may pass on retry, and the rest. */
export function statusOf(error: unknown): grpc.status {
  if (error instanceof RequestError) return grpc.status.INVALID_ARGUMENT;
  if (needsUserAction(error)) return grpc.status.FAILED_PRECONDITION;
  if (error instanceof ConnectorError && error.retriable) return grpc.status.UNAVAILABLE;
  return grpc.status.INTERNAL;
}

/** The same one-line, redacted message the Function adapter answers with. */
function failureMessage(connector: Connector, error: unknown, redactions: readonly string[]): string {
  return redactText(toErrorResponse(error, connector.name).body.errorMessage, redactions);
}

function logFailure(log: Logger, message: string, error: unknown): void {
  const internal = error instanceof Error && !(error instanceof ConnectorError);
  log.log(needsUserAction(error) || error instanceof RequestError ? 'WARNING' : 'ERROR', message, {
    ...(error instanceof ConnectorError ? {errorType: error.errorType} : {}),
    ...(internal ? {stack: error.stack} : {}),
  });
}

/** An AbortSignal that fires when the client cancels the call or goes away. */
function callSignal(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new Error('the client cancelled the call')));
  return controller.signal;
}

/** The four RPCs of `fivetran_sdk.v2.SourceConnector` for one connector. Nothing is kept between calls. */
export function sourceConnectorHandlers(connector: Connector, options: PartnerSdkOptions = {}): SourceConnectorHandlers {
  const sink = options.sink ?? partnerSdkSink();
  const loggerFor = (configuration: Record<string, string>) => {
    const redactions = secretValues(connector.secrets, configuration);
    return {redactions, log: new Logger({connector: connector.name, redact: redactions, sink})};
  };

  return {
    ConfigurationForm(_call, callback) {
      try {
        callback(null, configurationForm(connector));
      } catch (error) {
        callback({code: grpc.status.INTERNAL, details: failureMessage(connector, error, [])});
      }
    },

    Test(call, callback) {
      const {name, configuration} = call.request;
      const {log, redactions} = loggerFor(configuration);
      const signal = callSignal(call);
      void (async () => {
        try {
          const known = connector.setupTests.map((test) => test.name);
          if (name && !known.includes(name)) {
            throw new RequestError(`unknown setup test "${name}"; this connector's tests are: ${known.join(', ')}`);
          }
          const {secrets, unknownKeys} = parseSecrets(connector.secrets, configuration);
          if (unknownKeys.length) log.warn(`ignoring unknown configuration keys: ${unknownKeys.join(', ')}`);
          log.info('setup test started', {test: name || 'all'});
          await connector.test({secrets, log, signal, ...(name ? {testName: name} : {})});
          log.info('setup test passed', {test: name || 'all'});
          callback(null, {success: true});
        } catch (error) {
          const message = failureMessage(connector, error, redactions);
          logFailure(log, `setup test failed: ${message}`, error);
          callback(null, {failure: message});
        }
      })();
    },

    Schema(call, callback) {
      const {configuration} = call.request;
      const {log, redactions} = loggerFor(configuration);
      const signal = callSignal(call);
      void (async () => {
        try {
          const tables = await knownTables(connector, {secrets: () => parseSecrets(connector.secrets, configuration).secrets, log, signal});
          callback(null, {
            without_schema: {tables: [...tables].map(([name, spec]) => toTable(name, spec))},
            selection_not_supported: false,
          });
        } catch (error) {
          const message = failureMessage(connector, error, redactions);
          logFailure(log, `schema failed: ${message}`, error);
          callback({code: statusOf(error), details: message});
        }
      })();
    },

    Update(call) {
      const {log, redactions} = loggerFor(call.request.configuration);
      const signal = callSignal(call);
      const send = async (message: UpdateResponse | EncodedMessage, written?: () => void): Promise<void> => {
        if (signal.aborted) throw signal.reason;
        // Back-pressure: wait until the client has read enough (or has gone away, which aborts `signal`).
        // an encoded message passes through the serializer of sourceConnectorService() unchanged; grpc-js
        // frames it into a buffer of its own before it calls back (after the HTTP/2 write), so then its
        // bytes may be written over
        if (!call.write(message as UpdateResponse, written)) await once(call, 'drain', {signal});
      };
      void (async () => {
        try {
          await runUpdate(connector, call.request, {log, signal, send});
          call.end();
        } catch (error) {
          if (signal.aborted) return;
          const message = failureMessage(connector, error, redactions);
          logFailure(log, `update failed: ${message}`, error);
          // grpc-js: an 'error' event ends the stream with this status after the messages already written.
          call.emit('error', Object.assign(new Error(message), {code: statusOf(error), details: message}));
        }
      })();
    },
  };
}

/**
 * The SourceConnector service definition, with one change: `Update` writes a message that is already
 * encoded (a Buffer: the Records batches of record-encoder.ts) as it is, and encodes the others as usual.
 */
export function sourceConnectorService(): grpc.ServiceDefinition {
  const {proto} = loadPartnerSdk();
  const service = proto.fivetran_sdk.v2.SourceConnector.service;
  const update = service.Update;
  const encode = update.responseSerialize;
  return {...service, Update: {...update, responseSerialize: (message: UpdateResponse | Buffer) => (Buffer.isBuffer(message) ? message : encode(message))}};
}

export interface RunningServer {
  server: grpc.Server;
  port: number;
  /** the addresses bound, e.g. `[::]:50051` */
  addresses: string[];
  close(): Promise<void>;
}

/** The port is taken by another process: the one failure of binding a user can fix (another port). */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
  readonly code = 'EADDRINUSE';
  constructor(readonly address: string) {
    super(`${address} is in use`);
  }
}

/** grpc-js's log level from the environment, as it reads it when loaded (default: errors only). */
function configuredVerbosity(): grpc.logVerbosity {
  const level = (process.env.GRPC_NODE_VERBOSITY ?? process.env.GRPC_VERBOSITY ?? '').toUpperCase();
  return level === 'DEBUG' ? grpc.logVerbosity.DEBUG : level === 'INFO' ? grpc.logVerbosity.INFO : level === 'NONE' ? grpc.logVerbosity.NONE : grpc.logVerbosity.ERROR;
}

async function bind(server: grpc.Server, address: string): Promise<number> {
  // grpc-js logs a failed bind ("E No address added out of total 1 resolved") before it reports it; the
  // error below says it once, so its log is off while binding
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  try {
    return await new Promise((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (!error) resolve(port);
        else reject(/EADDRINUSE/.test(error.message) ? new PortInUseError(address) : error);
      });
    });
  } finally {
    grpc.setLogVerbosity(configuredVerbosity());
  }
}

/**
 * Starts the SourceConnector service. Without `host` it binds `[::]` (a dual-stack socket: IPv4 and IPv6)
 * and falls back to `0.0.0.0` where IPv6 is unavailable, as the development guide asks.
 */
export async function startPartnerSdkServer(
  connector: Connector,
  options: PartnerSdkOptions & {port?: number; host?: string} = {},
): Promise<RunningServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(sourceConnectorService(), sourceConnectorHandlers(connector, options));
  const port = options.port ?? DEFAULT_SOURCE_PORT;
  const addresses: string[] = [];
  let bound: number;
  try {
    if (options.host) {
      const address = options.host.includes(':') && !options.host.startsWith('[') ? `[${options.host}]:${port}` : `${options.host}:${port}`;
      bound = await bind(server, address);
      addresses.push(address.replace(/:\d+$/, `:${bound}`));
    } else {
      try {
        // libuv clears IPV6_V6ONLY on the socket (whatever net.ipv6.bindv6only says), so `[::]` also takes IPv4.
        bound = await bind(server, `[::]:${port}`);
        addresses.push(`[::]:${bound}`);
      } catch (error) {
        if (error instanceof PortInUseError) throw error;
        // no IPv6 on this host: IPv4 only, as the guide allows
        bound = await bind(server, `0.0.0.0:${port}`);
        addresses.push(`0.0.0.0:${bound}`);
      }
    }
  } catch (error) {
    server.forceShutdown();
    throw error;
  }
  return {
    server,
    port: bound,
    addresses,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Streams still open (a client that never reads) must not hold the process: force after a grace period.
        setTimeout(() => server.forceShutdown(), 2_000).unref();
      }),
  };
}
