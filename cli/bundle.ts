// Function bundles: one connector (or one function of functions/, which is no connector) compiled by esbuild
// into a self-contained ESM `index.js`, plus the minimal package.json Cloud Functions needs to install and
// start it. A bundle holds its connector, the SDK and their runtime dependencies, and nothing else: not another
// connector (a function may use a connector's public.ts, never the connector itself), not a dev dependency, not
// a native module (those cannot be built into a bundle, and DuckDB belongs to the CLI, not to a function).
// What the code loads with `await import()` (pg, got: sdk/postgres.ts, sdk/fivetran-api.ts) goes to files
// under chunks/, which Node reads and compiles only when a call first needs them: a cold start pays for
// index.js alone.
import {existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs';
import {builtinModules, createRequire} from 'node:module';
import path from 'node:path';
import {build, type Metafile, type Plugin} from 'esbuild';
import {DEPLOY_DEFAULTS, type DeployFunction} from '../project/deploy-yaml.js';
import {FUNCTIONS_DIR, listConnectorNames, listFunctionNames} from '../project/root.js';
import {runtimeNode} from '../project/runtimes.js';
import {CliConfigError} from './errors.js';

/** esbuild's output folder, relative to the project root; nothing is written there (write: false). */
const OUT_DIR = 'build/bundle';

/** Provided at runtime: Cloud Functions installs it from the bundle's package.json to start the function. */
export const FUNCTIONS_FRAMEWORK = '@google-cloud/functions-framework';

/**
 * Imports left out of the bundle. `pg-native` is pg's optional native driver: pg requires it only when asked
 * for `pg.native`, inside a try/catch, so leaving it unresolved keeps pure-JS pg working.
 */
const EXTERNAL = [FUNCTIONS_FRAMEWORK, `${FUNCTIONS_FRAMEWORK}/*`, 'pg-native'];

/**
 * CommonJS dependencies (pg, ...) call `require`, which an ES module lacks: esbuild's shim calls the global
 * `require` if there is one, so the banner defines it from import.meta.url.
 */
const ESM_BANNER = "import {createRequire as __fivetranCreateRequire} from 'node:module';\nconst require = __fivetranCreateRequire(import.meta.url);";

/** Packages whose code needs a compiled addon; named so the error says what to do instead. */
const NATIVE_PACKAGES = /^@duckdb\/|^duckdb$|^better-sqlite3$|^libpq$/;

/** What a bundle compiles: a connector (connectors/<name>/) or another function (functions/<name>/). */
export interface BundleSource {
  kind: 'connector' | 'function';
  name: string;
}

/** The source of a deploy.yaml entry. */
export function sourceOf(fn: DeployFunction): BundleSource {
  return fn.connector !== undefined ? {kind: 'connector', name: fn.connector} : {kind: 'function', name: fn.function};
}

const folderOf = (source: BundleSource) => (source.kind === 'connector' ? 'connectors' : FUNCTIONS_DIR);
const labelOf = (source: BundleSource) => `${source.kind} ${source.name}`;

export interface BundleChunk {
  /** relative to the bundle folder: chunks/<name>-<hash>.js */
  path: string;
  code: string;
}

export interface ConnectorBundle {
  connector: string;
  /** the ESM code of index.js, the module Cloud Functions loads */
  code: string;
  /** the modules index.js imports, most of them only when a call first needs them (`await import()`) */
  chunks: BundleChunk[];
  /** bytes Node loads to start the function: index.js and what it imports statically */
  startBytes: number;
  /** npm packages the bundle contains, sorted */
  packages: string[];
  /** source files the bundle contains, relative to the project root, sorted */
  files: string[];
}

export interface FunctionBundle {
  functionName: string;
  /** what it runs: the connector (`freshness`), or a function's folder (`functions/fivetran-webhooks`) */
  source: string;
  /** the folder uploaded to Cloud Functions */
  dir: string;
  /** size of index.js and its chunks in bytes */
  bytes: number;
  /** bytes loaded at a cold start: index.js and the chunks it imports statically */
  startBytes: number;
}

/** The Node.js major version of a Cloud Functions runtime (`nodejs24` → 24), from project/runtimes.ts. */
export function runtimeMajor(runtime: string | undefined): number {
  return runtimeNode(runtime ?? DEPLOY_DEFAULTS.runtime);
}

/** The npm package a bundled file comes from (`node_modules/@scope/name/...` → `@scope/name`), or null. */
export function packageOf(file: string): string | null {
  const normalized = file.split(path.sep).join('/');
  const at = normalized.lastIndexOf('node_modules/');
  if (at < 0) return null;
  const parts = normalized.slice(at + 'node_modules/'.length).split('/');
  if (!parts[0]) return null;
  return parts[0].startsWith('@') && parts[1] ? `${parts[0]}/${parts[1]}` : parts[0];
}

function readPackageJson(file: string): {version?: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string>; gypfile?: boolean} {
  return JSON.parse(readFileSync(file, 'utf8')) as never;
}

/** Refuses native addons at resolve time, naming the import and who made it. */
function nativeModuleGuard(source: BundleSource, root: string): Plugin {
  const refuse = (what: string, importer: string) => ({
    errors: [
      {
        text: `${labelOf(source)} imports ${what} (from ${path.relative(root, importer) || importer}), a native module; a Cloud Function bundle cannot contain native modules: keep it out of ${folderOf(source)}/${source.name} and the SDK code it uses`,
      },
    ],
  });
  return {
    name: 'fivetran-native-module-guard',
    setup(builder) {
      builder.onResolve({filter: /\.node$/}, (args) => refuse(args.path, args.importer));
      builder.onResolve({filter: NATIVE_PACKAGES}, (args) => refuse(args.path, args.importer));
    },
  };
}

/**
 * pg decides at load time whether it runs on Cloudflare Workers; on Node.js 20 (no `navigator`) it finds out
 * by constructing a `Response`, which loads Node's bundled undici: ~14 ms of CPU at every cold start. A function
 * bundle runs on Node.js, so the probe answers false at once. Left unchanged if pg's code no longer matches.
 */
function pgWithoutCloudflareProbe(): Plugin {
  const probe = 'function isCloudflareRuntime() {';
  return {
    name: 'fivetran-pg-without-cloudflare-probe',
    setup(builder) {
      builder.onLoad({filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/}, (args) => {
        const source = readFileSync(args.path, 'utf8');
        return {contents: source.includes(probe) ? source.replace(probe, `${probe}\n  return false // bundled for Node.js (./fivetran deploy)\n`) : source, loader: 'js'};
      });
    },
  };
}

/**
 * zod's `z` namespace re-exports every locale's messages (about 60 modules, a third of zod's share of a
 * bundle and ~6 ms of CPU at every cold start), and a namespace passed around as a value keeps them all in
 * the bundle. Connectors use zod's default, English (and the SDK rewrites its messages anyway), so bundles
 * keep `en` and replace the other locales with functions that throw, saying why. Left unchanged if zod's
 * locale index no longer has the expected form.
 */
function zodEnglishOnly(): Plugin {
  const line = /^export \{ default as (\w+) \} from "\.\/([\w-]+)\.js";$/;
  return {
    name: 'fivetran-zod-english-only',
    setup(builder) {
      builder.onLoad({filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/}, (args) => {
        const source = readFileSync(args.path, 'utf8');
        const lines = source.trim().split('\n').map((text) => line.exec(text.trim()));
        if (!lines.every((match) => match !== null) || !lines.some((match) => match[1] === 'en')) return {contents: source, loader: 'js'};
        const contents = lines
          .map(([, name, file]) =>
            name === 'en'
              ? `export { default as en } from "./${file}.js";`
              : `export const ${name} = () => { throw new Error("zod locale ${name} is not in Cloud Function bundles (./fivetran deploy keeps English only; see cli/bundle.ts)"); };`,
          )
          .join('\n');
        return {contents, loader: 'js', resolveDir: path.dirname(args.path)};
      });
    },
  };
}

/**
 * got imports http2-wrapper at load time, which loads Node's http2 (and its wrapper's dozen modules): ~10 ms of
 * a first request's CPU, for an option (`http2: true`) no connector sets. got reads the module only when a
 * request asks for HTTP/2 (`auto`, `globalAgent`), so bundles give got a stand-in whose properties load the
 * real module on first use: still bundled, evaluated only if reached. Left as is if got imports it otherwise.
 */
function gotHttp2WrapperOnUse(): Plugin {
  return {
    name: 'fivetran-got-http2-wrapper-on-use',
    setup(builder) {
      builder.onResolve({filter: /^http2-wrapper$/}, (args) => {
        if (!/[\\/]node_modules[\\/]got[\\/]/.test(args.importer)) return undefined;
        return {path: createRequire(args.importer).resolve('http2-wrapper'), namespace: 'fivetran-on-use'};
      });
      builder.onLoad({filter: /.*/, namespace: 'fivetran-on-use'}, (args) => ({
        contents: [
          'let real;',
          `const load = () => (real ??= require(${JSON.stringify(args.path)}));`,
          'module.exports = {get auto() { return load().auto; }, get globalAgent() { return load().globalAgent; }};',
        ].join('\n'),
        loader: 'js',
        resolveDir: path.dirname(args.path),
      }));
    },
  };
}

/**
 * @sindresorhus/is (got's argument checks) builds two `Intl.ListFormat`s at load time, which starts ICU: ~13 ms of
 * CPU at the first request of a function that uses got, for the message of a failed check with several
 * expected types. Bundles build each on its first use. Left unchanged if the module no longer has those lines.
 */
function isListFormatsOnUse(): Plugin {
  const construct = /new Intl\.ListFormat\(/g;
  return {
    name: 'fivetran-is-list-formats-on-use',
    setup(builder) {
      builder.onLoad({filter: /[\\/]node_modules[\\/]@sindresorhus[\\/]is[\\/]distribution[\\/]index\.js$/}, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if ((source.match(construct) ?? []).length !== 2) return {contents: source, loader: 'js'};
        const onUse = 'const __fivetranListFormatOnUse = (...args) => { let real; return {format: (list) => (real ??= new Intl.ListFormat(...args)).format(list)}; };\n';
        return {contents: onUse + source.replace(construct, '__fivetranListFormatOnUse('), loader: 'js'};
      });
    },
  };
}

/** A Node.js built-in module as named in an import: `node:fs`, or a bare built-in name (`fs`, `fs/promises`). */
const BUILTIN = new RegExp(`^(node:.+|${builtinModules.map((name) => name.replace(/[/.]/g, '\\$&')).join('|')})$`);
const BUILTIN_NAMESPACE = 'fivetran-builtin';

/**
 * An ES module import of a built-in (`import fs from 'node:fs'`) builds its ESM facade, which reads every export,
 * lazy ones included: on Node.js 24 `http`'s WebSocket getters load undici (~28 ms of CPU), `fs`'s `promises`
 * loads fs/promises and readline, `util`'s load parse_args, the diff and worker_threads. A CommonJS require()
 * reads none of them, but esbuild's CommonJS interop (`__toESM`) would, through their property descriptors.
 * So bundles take every built-in an ES module imports from a module that requires it and reads, when it
 * runs, only the exports the bundle imports (the others are tree-shaken: each is a pure read of its own),
 * as named by the Node.js that builds the bundle.
 */
function builtinsThroughRequire(): Plugin {
  const require = createRequire(import.meta.url);
  return {
    name: 'fivetran-builtins-through-require',
    setup(builder) {
      builder.onResolve({filter: BUILTIN}, (args) =>
        args.kind === 'import-statement' ? {path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: BUILTIN_NAMESPACE} : undefined,
      );
      builder.onLoad({filter: /.*/, namespace: BUILTIN_NAMESPACE}, (args) => {
        let exported: object = {};
        try {
          exported = require(args.path) as object;
        } catch {
          // a built-in this Node.js lacks: its default import still works, a named one fails the build, naming it
        }
        const names = Object.getOwnPropertyNames(exported).filter((name) => name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name));
        const contents = [
          `const __fivetranBuiltin = require(${JSON.stringify(args.path)});`,
          'const __fivetranRead = (name) => __fivetranBuiltin[name];',
          'export default __fivetranBuiltin;',
          ...names.map((name) => `export const ${name} = /* @__PURE__ */ __fivetranRead(${JSON.stringify(name)});`),
        ].join('\n');
        return {contents, loader: 'js'};
      });
    },
  };
}

/** The checks esbuild cannot make: what the bundle may not contain. */
function checkContents(root: string, source: BundleSource, metafile: Metafile, files: string[], packages: string[]): void {
  const label = labelOf(source);
  const rootPackage = readPackageJson(path.join(root, 'package.json'));
  const devOnly = packages.filter((name) => rootPackage.devDependencies?.[name] && !rootPackage.dependencies?.[name]);
  if (devOnly.length) {
    throw new CliConfigError(`${label} imports dev dependencies (${devOnly.join(', ')}), which a deployed function does not have; move test-only code out of ${folderOf(source)}/${source.name}/index.ts and what it imports`);
  }
  const native = packages.filter((name) => {
    const dir = path.join(root, 'node_modules', name);
    if (existsSync(path.join(dir, 'binding.gyp'))) return true;
    const manifest = path.join(dir, 'package.json');
    return existsSync(manifest) && readPackageJson(manifest).gypfile === true;
  });
  if (native.length) {
    throw new CliConfigError(`${label} bundles native modules (${native.join(', ')}); a Cloud Function bundle cannot contain native modules`);
  }
  const own = realpathSync(path.join(root, folderOf(source), source.name)) + path.sep;
  const others = [
    ...listConnectorNames(root).filter((name) => source.kind !== 'connector' || name !== source.name).map((name) => ({kind: 'connector' as const, name, dir: realpathSync(path.join(root, 'connectors', name)) + path.sep})),
    ...listFunctionNames(root).filter((name) => source.kind !== 'function' || name !== source.name).map((name) => ({kind: 'function' as const, name, dir: realpathSync(path.join(root, FUNCTIONS_DIR, name)) + path.sep})),
  ].filter((other) => !own.startsWith(other.dir));
  const relativeFiles = files.map((file) => path.relative(root, path.resolve(root, file)).split(path.sep).join('/'));
  for (const file of files) {
    const absolute = path.resolve(root, file);
    const other = others.find((o) => absolute.startsWith(o.dir) && !absolute.startsWith(own));
    if (!other) continue;
    // a function reaches a connector's code through its public.ts (the monitoring lifecycle and sinks), but
    // never holds the connector itself (its index.ts: the connector Fivetran would call)
    const viaPublic = source.kind === 'function' && other.kind === 'connector' && relativeFiles.includes(`connectors/${other.name}/public.ts`);
    const isConnector = path.relative(other.dir, absolute) === 'index.ts';
    if (viaPublic && !isConnector) continue;
    const fix = source.kind === 'connector' ? 'a function bundle holds one connector: move shared code to sdk/' : `import connectors/${other.name}/public.ts only, or move shared code to sdk/`;
    throw new CliConfigError(`${label} imports ${file} from ${other.kind} ${other.name}; ${fix}`);
  }
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined);
  if (!output?.exports.includes('main')) {
    const add = source.kind === 'connector' ? 'export const main = createMain(connector);' : 'export const main: HttpFunction = (req, res) => ...;';
    throw new CliConfigError(`${folderOf(source)}/${source.name}/index.ts does not export \`main\`; add: ${add}`);
  }
}

/**
 * Compiles connectors/<connector>/index.ts (or, given a function source, functions/<name>/index.ts) into one
 * ESM file. Deterministic: same sources, same bytes.
 */
export async function bundleConnector(root: string, connectorOrSource: string | BundleSource, runtime: string = DEPLOY_DEFAULTS.runtime): Promise<ConnectorBundle> {
  const source: BundleSource = typeof connectorOrSource === 'string' ? {kind: 'connector', name: connectorOrSource} : connectorOrSource;
  const connector = source.name;
  const entry = path.join(root, folderOf(source), source.name, 'index.ts');
  if (!existsSync(entry)) {
    const known = source.kind === 'connector' ? `known connectors: ${listConnectorNames(root).join(', ') || '(none)'}` : `known functions: ${listFunctionNames(root).join(', ') || '(none)'}`;
    throw new CliConfigError(`${folderOf(source)}/${source.name}/index.ts not found; ${known}`);
  }
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      absWorkingDir: root,
      // never written (write: false); the folder output paths are relative to
      outdir: OUT_DIR,
      entryNames: 'index',
      chunkNames: 'chunks/[name]-[hash]',
      // a dynamic import() becomes a file of its own, loaded when reached
      splitting: true,
      write: false,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: `node${runtimeMajor(runtime)}`,
      external: EXTERNAL,
      banner: {js: ESM_BANNER},
      metafile: true,
      legalComments: 'eof',
      logLevel: 'silent',
      plugins: [nativeModuleGuard(source, root), pgWithoutCloudflareProbe(), zodEnglishOnly(), gotHttp2WrapperOnUse(), isListFormatsOnUse(), builtinsThroughRequire()],
    });
  } catch (error) {
    const errors = (error as {errors?: {text: string; location?: {file: string; line: number} | null}[]}).errors;
    if (!errors?.length) throw error;
    const first = errors[0]!;
    const where = first.location ? ` (${first.location.file}:${first.location.line})` : '';
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : '';
    throw new CliConfigError(`bundling ${labelOf(source)} failed: ${first.text}${where}${more}`);
  }
  const outDir = path.join(root, OUT_DIR);
  const relative = (file: string) => path.relative(outDir, path.resolve(root, file)).split(path.sep).join('/');
  const output = result.outputFiles.find((file) => relative(file.path) === 'index.js');
  if (!output) throw new Error(`esbuild produced no index.js for ${labelOf(source)}`);
  const chunks = result.outputFiles
    .filter((file) => file !== output)
    .map((file) => ({path: relative(file.path), code: file.text}))
    .sort((a, b) => a.path.localeCompare(b.path));
  // the plugins' virtual modules (node:http's stand-in: `fivetran-<name>:<path>`) are not source files
  const files = Object.keys(result.metafile.inputs).filter((file) => !/^fivetran-[a-z0-9-]+:/.test(file)).sort();
  const packages = [...new Set(files.map(packageOf).filter((name): name is string => name !== null))].sort();
  checkContents(root, source, result.metafile, files, packages);
  return {connector, code: output.text, chunks, startBytes: startBytes(result.metafile, root, outDir), packages, files};
}

/** Bytes of index.js and of every output it imports statically, transitively: what a cold start loads. */
function startBytes(metafile: Metafile, root: string, outDir: string): number {
  const outputs = new Map(Object.entries(metafile.outputs).map(([file, output]) => [path.resolve(root, file), output]));
  const seen = new Set<string>();
  const visit = (file: string): number => {
    const output = outputs.get(file);
    if (!output || seen.has(file)) return 0;
    seen.add(file);
    return output.bytes + output.imports.filter((i) => i.kind === 'import-statement' && !i.external).reduce((sum, i) => sum + visit(path.resolve(root, i.path)), 0);
  };
  return visit(path.join(outDir, 'index.js'));
}

/** The function's package.json: how Cloud Functions finds `main` and which framework it installs to serve it. */
export function functionPackageJson(fn: DeployFunction, root: string): Record<string, unknown> {
  const rootPackage = readPackageJson(path.join(root, 'package.json'));
  const framework = rootPackage.dependencies?.[FUNCTIONS_FRAMEWORK];
  if (!framework) throw new CliConfigError(`package.json must list ${FUNCTIONS_FRAMEWORK} in dependencies; Cloud Functions needs it to serve the bundle`);
  return {
    name: fn.name.toLowerCase(),
    version: rootPackage.version ?? '0.0.0',
    private: true,
    description: fn.connector !== undefined ? `Fivetran connector ${fn.connector}, bundled by ./fivetran deploy` : `Cloud Function ${fn.function}, bundled by ./fivetran deploy`,
    type: 'module',
    main: 'index.js',
    engines: {node: `${runtimeMajor(fn.runtime)}.x`},
    dependencies: {[FUNCTIONS_FRAMEWORK]: framework},
  };
}

/** The folder a function's bundle is written to. */
export function bundleDir(buildDir: string, functionName: string): string {
  return path.join(buildDir, 'functions', functionName);
}

/** Replaces build/functions/<function>/ with index.js, its chunks/ and package.json. */
export function writeFunctionBundle(root: string, buildDir: string, fn: DeployFunction, bundle: ConnectorBundle): FunctionBundle {
  const dir = bundleDir(buildDir, fn.name);
  const bytes = writeBundleFiles(dir, bundle, functionPackageJson(fn, root));
  return {functionName: fn.name, source: fn.connector ?? `${FUNCTIONS_DIR}/${fn.function}`, dir, bytes, startBytes: bundle.startBytes};
}

/** Writes index.js, chunks/ and `packageJson` into `dir` (emptied first); returns the bytes of the code. */
export function writeBundleFiles(dir: string, bundle: ConnectorBundle, packageJson: Record<string, unknown>): number {
  rmSync(dir, {recursive: true, force: true});
  mkdirSync(dir, {recursive: true});
  writeFileSync(path.join(dir, 'index.js'), bundle.code);
  let bytes = Buffer.byteLength(bundle.code);
  for (const chunk of bundle.chunks) {
    const file = path.join(dir, ...chunk.path.split('/'));
    mkdirSync(path.dirname(file), {recursive: true});
    writeFileSync(file, chunk.code);
    bytes += Buffer.byteLength(chunk.code);
  }
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(packageJson, null, 2) + '\n');
  return bytes;
}

/**
 * Builds the bundle of every function, compiling each connector (or function folder) once per runtime (functions of the same
 * connector share its code and differ only in deployment settings). A failure is reported per function.
 */
export async function buildFunctionBundles(
  root: string,
  buildDir: string,
  functions: readonly DeployFunction[],
  onBuilt: (fn: DeployFunction, result: FunctionBundle | Error) => void = () => undefined,
): Promise<Map<string, FunctionBundle | Error>> {
  const compiled = new Map<string, Promise<ConnectorBundle>>();
  const results = new Map<string, FunctionBundle | Error>();
  for (const fn of functions) {
    const source = sourceOf(fn);
    const key = `${source.kind}\0${source.name}\0${fn.runtime ?? DEPLOY_DEFAULTS.runtime}`;
    let pending = compiled.get(key);
    if (!pending) {
      pending = bundleConnector(root, source, fn.runtime);
      pending.catch(() => undefined);
      compiled.set(key, pending);
    }
    let result: FunctionBundle | Error;
    try {
      result = writeFunctionBundle(root, buildDir, fn, await pending);
    } catch (error) {
      result = error instanceof Error ? error : new Error(String(error));
    }
    results.set(fn.name, result);
    onBuilt(fn, result);
  }
  return results;
}
