// ./fivetran serve <connector|function>: the function's `main` on functions-framework, answering exactly as
// the deployed Cloud Function would (a function entry of deploy.yaml too: functions/<name>/, e.g. fivetran-webhooks,
// its request's raw body kept as req.rawBody as on Cloud Functions). By default it serves the bundle ./fivetran deploy ships (cli/bundle.ts:
// the same esbuild output, its chunks loaded when first needed), so local behaviour, throughput and cold
// starts are the deployed ones; the bundle is rebuilt when one of its source files changes, and a build that
// fails keeps the last good one serving. `dev` serves the TypeScript sources through tsx instead (no build
// step; what changes needs a restart). With `grpc`, the connector as a Fivetran Partner SDK source
// connector, from the sources (tsx): the gRPC server is no part of a function bundle.
import {mkdtempSync, rmSync, watch, type FSWatcher} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import type {HttpFunction} from '@google-cloud/functions-framework';
import {createFunctionServer, listen} from '../sdk/server.js';
import {createMain} from '../sdk/function-adapter.js';
import {bundleConnector, sourceOf, writeBundleFiles} from './bundle.js';
import {resolveTarget, sourceLabel, type DeployFunction} from '../project/deploy-yaml.js';
import {FUNCTIONS_DIR, loadConnector, projectRoot} from '../project/root.js';
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
  /** serve the TypeScript sources through tsx instead of the deployed bundle */
  dev?: boolean;
  /** where a rebuild is reported (default: stderr); a failed rebuild gets its error */
  onRebuild?: (result: {ok: true; ms: number} | {ok: false; error: Error}) => void;
}

export interface ServedFunction {
  url: string;
  close: () => Promise<void>;
  /** the bundle folder served (absent with `dev`) */
  bundleDir?: string;
  /** resolves once the rebuild started by the last source change has been served (or has failed) */
  settled?: () => Promise<void>;
}

/** Debounce of source changes: an editor's save is often several events. */
const REBUILD_DELAY_MS = 50;

/**
 * The deployed bundle of a function, built into a temporary folder and imported; rebuilt on each change of a
 * source file it contains. `current()` is the `main` of the last good build.
 */
async function servedBundle(root: string, fn: DeployFunction, onRebuild: NonNullable<ServeOptions['onRebuild']>) {
  const work = mkdtempSync(path.join(tmpdir(), `fivetran-serve-${fn.name}-`));
  let version = 0;
  let watchers: FSWatcher[] = [];
  let closed = false;
  let main: HttpFunction;
  let dir = '';
  const build = async (): Promise<string[]> => {
    const bundle = await bundleConnector(root, sourceOf(fn), fn.runtime);
    // a new folder per build: Node caches ES modules by URL, so each build is imported as itself. The code is
    // deploy's; the package.json only makes it an ES module (the framework is this project's, not installed there)
    const written = {dir: path.join(work, String(++version), fn.name)};
    writeBundleFiles(written.dir, bundle, {name: fn.name.toLowerCase(), private: true, type: 'module', main: 'index.js'});
    const module = (await import(pathToFileURL(path.join(written.dir, 'index.js')).href)) as {main?: HttpFunction};
    if (typeof module.main !== 'function') throw new CliConfigError(`the bundle of ${sourceLabel(fn)} does not export \`main\``);
    // earlier builds stay until close: a call still running may yet import one of their chunks
    main = module.main;
    dir = written.dir;
    return bundle.files.filter((file) => !file.split(/[\\/]/).includes('node_modules'));
  };
  let pending = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const rewatch = (files: string[]) => {
    for (const watcher of watchers) watcher.close();
    watchers = files.map((file) => watch(path.resolve(root, file), () => schedule()).on('error', () => schedule()));
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      pending = pending.then(async () => {
        if (closed) return;
        const started = performance.now();
        try {
          const files = await build();
          if (!closed) rewatch(files);
          onRebuild({ok: true, ms: Math.round(performance.now() - started)});
        } catch (error) {
          onRebuild({ok: false, error: error instanceof Error ? error : new Error(String(error))});
        }
      });
    }, REBUILD_DELAY_MS);
  };
  try {
    rewatch(await build());
  } catch (error) {
    rmSync(work, {recursive: true, force: true});
    throw error;
  }
  return {
    current: () => main,
    dir: () => dir,
    settled: async () => {
      await new Promise((resolve) => setTimeout(resolve, REBUILD_DELAY_MS * 2));
      await pending;
    },
    close: () => {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
      rmSync(work, {recursive: true, force: true});
    },
  };
}

/** The `main` of functions/<name>/index.ts, from the TypeScript sources (serve --dev). */
async function loadFunctionMain(root: string, name: string): Promise<HttpFunction> {
  const module = (await import(pathToFileURL(path.join(root, FUNCTIONS_DIR, name, 'index.ts')).href)) as {main?: HttpFunction};
  if (typeof module.main !== 'function') throw new CliConfigError(`${FUNCTIONS_DIR}/${name}/index.ts does not export \`main\``);
  return module.main;
}

function reportRebuild(result: {ok: true; ms: number} | {ok: false; error: Error}): void {
  console.error(result.ok ? `fivetran: sources changed; rebuilt the bundle in ${result.ms} ms` : `fivetran: rebuilding the bundle failed, still serving the last build: ${result.error.message}`);
}

export async function serveFunction(options: ServeOptions): Promise<ServedFunction> {
  if (options.grpc) return servePartnerSdk(options);
  const root = projectRoot(options.cwd);
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${options.port} must be a port number from 0 to 65535`);
  const target = resolveTarget(root, options.target, 'serve', {functions: true});
  let main: HttpFunction;
  let bundle: Awaited<ReturnType<typeof servedBundle>> | undefined;
  if (options.dev) {
    main = target.connector !== undefined ? createMain(await loadConnector(root, target.connector)) : await loadFunctionMain(root, target.entry.function);
  } else {
    const fn: DeployFunction = target.entry ?? {name: target.functionName, connector: target.connector!, environment: 'dev'};
    bundle = await servedBundle(root, fn, options.onRebuild ?? reportRebuild);
    const served = bundle;
    // the handler of the last good build, looked up per request
    main = (req, res) => served.current()(req, res);
  }
  const server = createFunctionServer(target.functionName, main);
  let url: string;
  try {
    url = await listen(server, port, options.host ?? '127.0.0.1');
  } catch (error) {
    bundle?.close();
    throw listenFailed(error, port, options.host ?? '127.0.0.1');
  }
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        bundle?.close();
        server.close(() => resolve());
      }),
    ...(bundle ? {bundleDir: bundle.dir(), settled: bundle.settled} : {}),
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
  const target = resolveTarget(root, options.target, 'serve --grpc');
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
