// ./fivetran connector create|list: scaffolds a new connector from templates/connector/ and lists the fleet's
// connectors with their tables and the deploy.yaml functions that run them.
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {deployFile, loadDeployConfig} from '../project/deploy-yaml.js';
import {CONNECTOR_NAME_HELP, CONNECTOR_NAME_RULE, listConnectorNames, loadConnector, projectRoot} from '../project/root.js';
import {CliConfigError, UsageError} from './errors.js';
import {formatTable, printJson} from './output.js';
import {renderTemplate, TEMPLATES_DIR} from './templates.js';

/** Every `*.hbs` file under `dir`, as paths relative to it, sorted. */
function templateFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(dir, prefix), {withFileTypes: true})) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...templateFiles(dir, relative));
    else if (entry.name.endsWith('.hbs')) out.push(relative);
  }
  return out.sort();
}

/** A relative import specifier (always starting with ./ or ../, with forward slashes). */
function importPath(fromDir: string, target: string): string {
  const relative = path.relative(fromDir, target).split(path.sep).join('/');
  return relative.startsWith('.') ? relative : `./${relative}`;
}

const pascalCase = (name: string) => name.split('_').filter(Boolean).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('');

export interface CreateConnectorOptions {
  name: string;
  /** folder that will hold the connector's folder; default connectors/ of the project */
  destination?: string;
  cwd?: string;
  /** where the summary goes; default stderr */
  log?: (line: string) => void;
}

export interface CreatedConnector {
  /** absolute path of the new connector folder */
  dir: string;
  /** files written, relative to dir */
  files: string[];
}

/** Renders templates/connector/*.hbs into <destination>/<name>/. Refuses bad names and existing folders. */
export async function createConnector(options: CreateConnectorOptions): Promise<CreatedConnector> {
  const {name} = options;
  if (!CONNECTOR_NAME_RULE.test(name)) {
    throw new UsageError(`connector name "${name}" is invalid: use ${CONNECTOR_NAME_HELP}, e.g. my_source`);
  }
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const root = projectRoot(cwd);
  const parent = options.destination ? path.resolve(cwd, options.destination) : path.join(root, 'connectors');
  const dir = path.join(parent, name);
  const fromRoot = path.relative(root, dir);
  if (fromRoot.startsWith('..') || path.isAbsolute(fromRoot)) {
    throw new UsageError(`--destination ${options.destination} is outside the project (${root}); a connector must live inside it to import sdk/ and the project's packages`);
  }
  if (existsSync(dir)) {
    throw new UsageError(`${path.relative(cwd, dir) || dir} already exists; choose another name or remove that folder first`);
  }
  const sdkIndex = path.join(root, 'sdk', 'index.ts');
  if (!existsSync(sdkIndex)) throw new CliConfigError(`${sdkIndex} not found; the project's sdk/ is missing`);

  const view = {
    name,
    pascalName: pascalCase(name),
    functionName: name.replace(/_/g, '-'),
    sdkImport: importPath(dir, path.join(root, 'sdk', 'index.js')),
    sdkDir: importPath(dir, path.join(root, 'sdk')),
    testFilter: fromRoot.split(path.sep).join('/'),
  };
  const templatesDir = path.join(TEMPLATES_DIR, 'connector');
  const rendered = templateFiles(templatesDir).map((template) => ({
    file: template.slice(0, -'.hbs'.length),
    text: renderTemplate(readFileSync(path.join(templatesDir, template), 'utf8'), view, `connector/${template}`),
  }));
  // everything rendered before anything is written: a template error leaves no half-made folder
  for (const {file, text} of rendered) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true});
    writeFileSync(path.join(dir, file), text);
  }
  const files = rendered.map(({file}) => file.split(path.sep).join('/'));
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const shown = path.relative(cwd, dir) || '.';
  log(`created ${shown}/ (${files.join(', ')})`);
  log(`next: ./fivetran test ${view.testFilter}, then add a function for it to deploy.yaml and run ./fivetran ci_config update`);
  return {dir, files};
}

export interface ConnectorSummary {
  name: string;
  description: string;
  tables: string[];
  /** deploy.yaml functions that run this connector */
  functions: string[];
}

/** Every connector of the project with its declared tables and the deploy.yaml functions using it. */
export async function describeConnectors(root: string): Promise<ConnectorSummary[]> {
  const functions = existsSync(deployFile(root)) ? loadDeployConfig(root) : [];
  const summaries: ConnectorSummary[] = [];
  for (const name of listConnectorNames(root)) {
    const connector = await loadConnector(root, name).catch((error: unknown) => {
      if (error instanceof CliConfigError) throw error;
      throw new CliConfigError(`connectors/${name}/index.ts failed to load: ${(error as Error).message.split('\n')[0]}`);
    });
    summaries.push({
      name,
      description: connector.description ?? '',
      tables: Object.keys(connector.tables).sort(),
      functions: functions.filter((fn) => fn.connector === name).map((fn) => fn.name),
    });
  }
  return summaries;
}

export interface ListConnectorsOptions {
  cwd?: string;
  json?: boolean;
  /** where the listing goes; default stdout */
  write?: (text: string) => void;
}

/** Prints the connectors as a table (or JSON with --json) and returns them. */
export async function listConnectors(options: ListConnectorsOptions = {}): Promise<ConnectorSummary[]> {
  const root = projectRoot(options.cwd);
  const summaries = await describeConnectors(root);
  if (options.json) {
    if (options.write) options.write(JSON.stringify(summaries, null, 2) + '\n');
    else printJson(summaries);
    return summaries;
  }
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  if (summaries.length === 0) {
    write('no connectors yet; create one with ./fivetran connector create my_source\n');
    return summaries;
  }
  const rows = summaries.map((s) => ({
    connector: s.name,
    tables: s.tables.join(', ') || '(declared at sync time)',
    functions: s.functions.join(', ') || '(not deployed)',
    description: s.description,
  }));
  write(formatTable(rows, ['connector', 'tables', 'functions', 'description']) + '\n');
  return summaries;
}
