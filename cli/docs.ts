// ./fivetran docs update|check: the parts of the docs that the code already states, written from the code.
// Each connector's README gets its Secrets and Tables sections from `connector.secrets` (zod + field.*
// metadata) and `connector.tables`; docs/cli-reference.md is commander's help for every command. `check`
// fails when a file is not what `update` would write, so CI (the docs test) catches a stale doc the way
// `ci_config check` catches a stale CircleCI config.
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {Command, type Help} from 'commander';
import type * as z from 'zod';
import type {Connector} from '../sdk/connector.js';
import {fieldMeta} from '../sdk/secrets.js';
import type {ColumnType, TableSpec} from '../sdk/types.js';
import {createConnector} from './connector.js';
import {CommandFailed} from './errors.js';
import {listConnectorNames, loadConnector, projectRoot} from './project.js';

export const CLI_REFERENCE_FILE = path.join('docs', 'cli-reference.md');
/** The generated sections of a connector README, each between `<!-- generated:<name> -->` and `<!-- /generated:<name> -->`. */
export const CONNECTOR_SECTIONS = ['secrets', 'tables'] as const;
type SectionName = (typeof CONNECTOR_SECTIONS)[number];

const SECTION_HEADINGS: Record<SectionName, string> = {secrets: '## Secrets', tables: '## Tables'};
const UPDATE_HINT = 'run ./fivetran docs update and commit the result';

const code = (text: string) => `\`${text}\``;
/** A table cell: pipes escaped, newlines folded, `<` and `>` outside code spans kept from reading as HTML. */
const cell = (text: string) =>
  text
    .split('`')
    .map((part, i) => (i % 2 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`')
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');

interface ZodDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  defaultValue?: unknown;
}
const defOf = (schema: z.ZodType) => (schema as unknown as {_zod: {def: ZodDef}})._zod.def;

/** `required`, `none` (optional without a default) or the default value as Fivetran's form would hold it. */
function defaultText(schema: z.ZodType): string {
  for (let current: z.ZodType | undefined = schema, depth = 0; current && depth < 8; depth++) {
    const def = defOf(current);
    if (def.type === 'default' || def.type === 'prefault') {
      const value = typeof def.defaultValue === 'function' ? (def.defaultValue as () => unknown)() : def.defaultValue;
      if (Array.isArray(value)) return value.length ? code(value.join(',')) : 'none';
      return code(typeof value === 'string' ? value : JSON.stringify(value));
    }
    if (def.type === 'optional') return 'none';
    current = def.innerType ?? def.out ?? def.in;
  }
  return 'required';
}

/** The secrets table of a connector: key (🔒 when secret), kind and limits, default, label and description. */
export function renderSecretsSection(connector: Connector): string {
  const rows = Object.entries(connector.secrets.shape).map(([key, schema]) => {
    const meta = fieldMeta(schema as z.ZodType) ?? {};
    const limits = meta as {min?: number; max?: number};
    let kind = meta.kind ?? 'text';
    if (meta.options) kind += `: ${meta.options.join(', ')}`;
    else if (limits.min !== undefined && limits.max !== undefined) kind += ` ${limits.min}–${limits.max}`;
    else if (limits.min !== undefined) kind += ` ≥ ${limits.min}`;
    else if (limits.max !== undefined) kind += ` ≤ ${limits.max}`;
    const meaning = [meta.label, meta.description].filter(Boolean).join(': ');
    const example = meta.placeholder ? ` (e.g. ${code(meta.placeholder)})` : '';
    return `| ${code(key)}${meta.secret ? ' 🔒' : ''} | ${cell(kind)} | ${defaultText(schema as z.ZodType)} | ${cell(meaning + example)} |`;
  });
  return [
    `From \`connector.secrets\` (${code('./fivetran docs update')} writes this table). Fivetran sends every value as a`,
    'string: numbers, booleans, lists and JSON are accepted as `"5432"`, `"true"`, `"a,b"`, `"{}"`. Values of keys',
    'marked 🔒 never appear in logs, errors or responses.',
    '',
    '| key | kind | default | meaning |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

const typeText = (type: ColumnType) => (typeof type === 'string' ? type : `decimal(${type.precision},${type.scale})`);

/** The declared tables of a connector: primary key, declared columns with their types, description. */
export function renderTablesSection(connector: Connector): string {
  const entries = Object.entries(connector.tables).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const intro = `From \`connector.tables\` (${code('./fivetran docs update')} writes this table): the tables known before a sync.`;
  if (!entries.length) return `${intro}\n\nThis connector declares no table ahead of time; its tables are declared during the sync.`;
  const row = ([name, spec]: [string, TableSpec]) => {
    const key = spec.primaryKey?.length ? spec.primaryKey.map(code).join(', ') : 'none (rows are appended)';
    const columns = Object.entries(spec.columns ?? {}).map(([column, type]) => `${code(column)} ${typeText(type)}`).join(', ') || '(inferred)';
    const what = [spec.description, spec.softDelete ? 'deletes set `_fivetran_deleted`' : ''].filter(Boolean).join('; ');
    return `| ${code(name)} | ${key} | ${cell(what)} | ${cell(columns)} |`;
  };
  return [intro, '', '| table | primary key | what | declared columns |', '|---|---|---|---|', ...entries.map(row)].join('\n');
}

const markers = (name: string) => ({open: `<!-- generated:${name} -->`, close: `<!-- /generated:${name} -->`});

/**
 * Puts `content` between the markers of section `name`; without markers, appends a heading and the section,
 * so a README fresh from the template gets its sections on the first update.
 */
export function replaceSection(text: string, name: string, heading: string, content: string): string {
  const {open, close} = markers(name);
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  const block = `${open}\n${content}\n${close}`;
  if (start === -1 || end === -1 || end < start) return `${text.trimEnd()}\n\n${heading}\n\n${block}\n`;
  return text.slice(0, start) + block + text.slice(end + close.length);
}

/** A connector's README with its generated sections as `update` writes them. */
export function connectorReadme(text: string, connector: Connector): string {
  const withSecrets = replaceSection(text, 'secrets', SECTION_HEADINGS.secrets, renderSecretsSection(connector));
  return replaceSection(withSecrets, 'tables', SECTION_HEADINGS.tables, renderTablesSection(connector));
}

// ---- the CLI reference, from commander's help -------------------------------------------------------------

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current; current = current.parent) names.unshift(current.name());
  return names.join(' ');
}

function commandsOf(command: Command): Command[] {
  return command.commands.filter((sub) => !(sub as unknown as {_hidden?: boolean})._hidden);
}

function renderCommand(command: Command, help: Help): string[] {
  const lines = [`### \`./${commandPath(command)}\``, '', help.commandDescription(command), '', '```', `./${help.commandUsage(command)}`, '```'];
  const args = help.visibleArguments(command);
  if (args.length) {
    lines.push('', '| argument | meaning |', '|---|---|');
    for (const arg of args) lines.push(`| ${code(help.argumentTerm(arg))} | ${cell(help.argumentDescription(arg))} |`);
  }
  const options = help.visibleOptions(command).filter((option) => option.long !== '--help');
  if (options.length) {
    lines.push('', '| option | meaning |', '|---|---|');
    for (const option of options) lines.push(`| ${code(help.optionTerm(option))} | ${cell(help.optionDescription(option))} |`);
  }
  const subcommands = commandsOf(command);
  if (subcommands.length) {
    lines.push('', `Commands: ${subcommands.map((sub) => `[\`${sub.name()}\`](#${anchor(commandPath(sub))})`).join(', ')}.`);
  }
  return lines;
}

/** GitHub's heading anchor for `### ./fivetran state get`. */
const anchor = (pathText: string) => `${pathText}`.replace(/[^a-z0-9 _-]/gi, '').trim().toLowerCase().replace(/ /g, '-');

/** docs/cli-reference.md: every command of the program, in the order `--help` lists them. */
export function renderCliReference(program: Command): string {
  const help = program.createHelp();
  const lines = [
    '# `./fivetran` command reference',
    '',
    '<!-- generated by ./fivetran docs update from the commander program in cli/index.ts; edit the descriptions there -->',
    '',
    "Every command's arguments and options, as `./fivetran <command> --help` prints them. What the commands do, with",
    'examples and their output: [cli.md](cli.md). Every command takes `-h, --help`.',
    '',
    `\`./${help.commandUsage(program)}\`: ${help.commandDescription(program)}`,
    '',
  ];
  const rootOptions = help.visibleOptions(program).filter((option) => option.long !== '--help');
  for (const option of rootOptions) lines.push(`- ${code(help.optionTerm(option))}: ${help.optionDescription(option)}`);
  const walk = (command: Command) => {
    for (const sub of commandsOf(command)) {
      lines.push('', ...renderCommand(sub, sub.createHelp()));
      walk(sub);
    }
  };
  if (!commandsOf(program).length) throw new Error('the program has no commands');
  const all: Command[] = [];
  const collect = (command: Command) => commandsOf(command).forEach((sub) => (all.push(sub), collect(sub)));
  collect(program);
  lines.push('', '## Commands', '', ...all.map((sub) => `- [\`./${commandPath(sub)}\`](#${anchor(commandPath(sub))}): ${sub.description()}`));
  walk(program);
  return `${lines.join('\n')}\n`;
}

/**
 * The commander program of cli/index.ts, without running a command: `createProgram()` when the module exports
 * it; otherwise the program its `main()` hands to `parseAsync`, caught before it parses anything.
 */
export function loadProgram(): Promise<Command> {
  // cli/index.ts runs its main() once, on its first import: keep what that import gave
  loadedProgram ??= importProgram();
  return loadedProgram;
}
let loadedProgram: Promise<Command> | undefined;

async function importProgram(): Promise<Command> {
  let caught: Command | undefined;
  const original = Command.prototype.parseAsync;
  const capture = (program: Command) => {
    caught ??= program;
    return Promise.resolve(program);
  };
  Command.prototype.parseAsync = function (this: Command) {
    return capture(this);
  };
  try {
    const module = (await import('./index.js')) as {createProgram?: () => Command};
    if (typeof module.createProgram === 'function') return module.createProgram();
  } finally {
    Command.prototype.parseAsync = original;
  }
  if (!caught) throw new Error('cli/index.ts neither exports createProgram() nor parses a program on import');
  return caught;
}

/** The program a command belongs to. */
export function rootCommand(command: Command): Command {
  let root = command;
  while (root.parent) root = root.parent;
  return root;
}

// ---- update and check --------------------------------------------------------------------------------------

export interface GeneratedFile {
  /** relative to the project root */
  file: string;
  current: string | undefined;
  wanted: string;
}

export interface DocsOptions {
  cwd?: string;
  /** the commander program to document (the CLI passes its own; default: loadProgram()) */
  program?: Command;
  stderr?: (text: string) => void;
}

/** Every generated file as it is and as `update` would write it. */
export async function generatedDocs(options: DocsOptions = {}): Promise<GeneratedFile[]> {
  const root = projectRoot(options.cwd);
  const read = (file: string) => (existsSync(path.join(root, file)) ? readFileSync(path.join(root, file), 'utf8') : undefined);
  const files: GeneratedFile[] = [];
  for (const name of listConnectorNames(root)) {
    const file = path.join('connectors', name, 'README.md');
    const current = read(file);
    const connector = await loadConnector(root, name);
    files.push({file, current, wanted: connectorReadme(current ?? `# \`${name}\`\n\n${connector.description ?? ''}\n`, connector)});
  }
  const template = path.join('templates', 'connector', 'README.md.hbs');
  const templateText = read(template);
  if (templateText !== undefined) files.push({file: template, current: templateText, wanted: connectorReadme(templateText, await templateConnector(root))});
  files.push({file: CLI_REFERENCE_FILE, current: read(CLI_REFERENCE_FILE), wanted: renderCliReference(options.program ?? (await loadProgram()))});
  return files;
}

/** The example connector of templates/connector/, rendered into .fivetran/tmp/ (to import the SDK) and loaded. */
async function templateConnector(root: string): Promise<Connector> {
  const tmp = path.join(root, '.fivetran', 'tmp');
  mkdirSync(tmp, {recursive: true});
  const work = mkdtempSync(path.join(tmp, 'docs-'));
  try {
    const created = await createConnector({name: 'example_api', destination: work, cwd: root, log: () => undefined});
    const module = (await import(pathToFileURL(path.join(created.dir, 'index.ts')).href)) as {connector: Connector};
    return module.connector;
  } finally {
    rmSync(work, {recursive: true, force: true});
  }
}

const defaultStderr = (text: string) => process.stderr.write(text);

/** Writes the generated sections and docs/cli-reference.md. */
export async function updateDocs(options: DocsOptions = {}): Promise<{written: string[]}> {
  const root = projectRoot(options.cwd);
  const written: string[] = [];
  for (const {file, current, wanted} of await generatedDocs(options)) {
    if (current === wanted) continue;
    writeFileSync(path.join(root, file), wanted);
    written.push(file);
  }
  (options.stderr ?? defaultStderr)(written.length ? `written: ${written.join(', ')}; commit them\n` : 'the generated docs are already current\n');
  return {written};
}

/** Fails, naming each stale file and section, when a generated part is not what `update` would write. */
export async function checkDocs(options: DocsOptions = {}): Promise<void> {
  const stale: string[] = [];
  for (const {file, current, wanted} of await generatedDocs(options)) {
    if (current === wanted) continue;
    if (current === undefined) {
      stale.push(`${file} does not exist`);
      continue;
    }
    const sections = CONNECTOR_SECTIONS.filter((name) => sectionOf(current, name) !== sectionOf(wanted, name));
    const missing = sections.filter((name) => sectionOf(current, name) === undefined);
    const what = missing.length
      ? `has no ${missing.join(' or ')} markers (${markers(missing[0]!).open} ... ${markers(missing[0]!).close})`
      : sections.length
        ? `its ${sections.join(' and ')} section${sections.length > 1 ? 's are' : ' is'} stale`
        : 'is stale';
    stale.push(`${file} ${what}`);
  }
  if (stale.length) throw new CommandFailed(`the generated docs are stale: ${stale.join('; ')}; ${UPDATE_HINT}`);
  (options.stderr ?? defaultStderr)('the generated docs are current\n');
}

function sectionOf(text: string, name: string): string | undefined {
  const {open, close} = markers(name);
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  return start === -1 || end < start ? undefined : text.slice(start, end);
}
