// Tests of ./fivetran docs update|check: the generated sections on throwaway projects, and the repository's
// own docs, which must be what update writes (so CI fails on a stale doc, as it does on a stale CircleCI config).
import {existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {Command} from 'commander';
import {afterEach, describe, expect, it} from 'vitest';
import type {Connector} from '../sdk/connector.js';
import {defineConnector, field, z} from '../sdk/index.js';
import {createConnector} from './connector.js';
import {checkDocs, CLI_REFERENCE_FILE, connectorReadme, loadProgram, renderCliReference, renderSecretsSection, renderTablesSection, replaceSection, updateDocs} from './docs.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const quiet = {stderr: () => undefined};

const example = defineConnector({
  name: 'example',
  secrets: z.object({
    api_url: field.text({label: 'API URL', placeholder: 'https://api.example.com'}),
    api_token: field.secret({description: 'sent as a bearer token'}),
    page_size: field.integer({min: 1, max: 1000, description: 'items per page'}).default(100),
    mode: field.enum(['full', 'incremental']).optional(),
    names: field.list().default([]),
  }),
  tables: {
    items: {primaryKey: ['id'], columns: {id: 'string', price: {type: 'decimal', precision: 12, scale: 2}}, description: 'one per item'},
    events: {description: 'appended | as they come'},
  },
  async test() {},
  async *sync() {},
});

describe('the generated connector sections', () => {
  it('list every secrets key with its kind, limits, default, meaning and a lock on secret keys', () => {
    const rows = renderSecretsSection(example).split('\n').filter((line) => line.startsWith('| `'));
    expect(rows).toEqual([
      '| `api_url` | text | required | API URL (e.g. `https://api.example.com`) |',
      '| `api_token` 🔒 | secret | required | sent as a bearer token |',
      '| `page_size` | integer 1–1000 | `100` | items per page |',
      '| `mode` | enum: full, incremental | none |  |',
      '| `names` | list | none |  |',
    ]);
  });

  it('list every declared table with its primary key, description and column types, pipes escaped', () => {
    const rows = renderTablesSection(example).split('\n').filter((line) => line.startsWith('| `'));
    expect(rows).toEqual([
      '| `events` | none (rows are appended) | appended \\| as they come | (inferred) |',
      '| `items` | `id` | one per item | `id` string, `price` decimal(12,2) |',
    ]);
  });

  it('replace only what is between the markers, and append a section to a README without them', () => {
    const text = '# x\n\nbefore\n<!-- generated:secrets -->\nold\n<!-- /generated:secrets -->\nafter\n';
    expect(replaceSection(text, 'secrets', '## Secrets', 'new')).toBe('# x\n\nbefore\n<!-- generated:secrets -->\nnew\n<!-- /generated:secrets -->\nafter\n');
    expect(replaceSection('# x\n', 'tables', '## Tables', 'new')).toBe('# x\n\n## Tables\n\n<!-- generated:tables -->\nnew\n<!-- /generated:tables -->\n');
  });
});

describe('the generated CLI reference', () => {
  it('documents every command, its arguments and its options with their defaults', () => {
    const program = new Command('fivetran').description('the fleet');
    const group = program.command('things').description('a group');
    group.command('make').description('make one').argument('<name>', 'what to call it').option('--count <n>', 'how many', '1');
    const text = renderCliReference(program);
    expect(text).toContain('### `./fivetran things make`\n\nmake one\n\n```\n./fivetran things make [options] <name>\n```');
    expect(text).toContain('| `name` | what to call it |');
    expect(text).toContain('| `--count <n>` | how many (default: "1") |');
    expect(text).toContain('- [`./fivetran things make`](#fivetran-things-make): make one');
  });

  it('reads the real program of cli/index.ts without running a command', async () => {
    const program = await loadProgram();
    expect(program.commands.map((command) => command.name())).toEqual(expect.arrayContaining(['demo', 'test', 'docs', 'ci_config', 'sync']));
  });
});

describe('docs update and check on a throwaway project', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, {recursive: true, force: true});
    root = undefined;
  });

  function project(readme: string): string {
    root = mkdtempSync(path.join(tmpdir(), 'docs-'));
    writeFileSync(path.join(root, 'package.json'), '{"type": "module"}\n');
    mkdirSync(path.join(root, 'docs'));
    const dir = path.join(root, 'connectors', 'freshness');
    mkdirSync(dir, {recursive: true});
    // the connector itself is the repository's, re-exported, so the project needs no SDK of its own
    writeFileSync(path.join(dir, 'index.ts'), `export {connector} from ${JSON.stringify(path.join(REPO, 'connectors', 'freshness', 'index.ts'))};\n`);
    writeFileSync(path.join(dir, 'README.md'), readme);
    return root;
  }
  const program = new Command('fivetran');
  program.command('hello').description('say hello');

  it('fails naming the file and the stale section, then passes after update', async () => {
    const cwd = project('# freshness\n\n## Secrets\n\n<!-- generated:secrets -->\nstale\n<!-- /generated:secrets -->\n\n<!-- generated:tables -->\n<!-- /generated:tables -->\n');
    await expect(checkDocs({cwd, program, ...quiet})).rejects.toThrow(
      /connectors\/freshness\/README\.md its secrets and tables sections are stale; docs\/cli-reference\.md does not exist; run \.\/fivetran docs update/,
    );
    const {written} = await updateDocs({cwd, program, ...quiet});
    expect(written).toEqual([path.join('connectors', 'freshness', 'README.md'), CLI_REFERENCE_FILE]);
    await expect(checkDocs({cwd, program, ...quiet})).resolves.toBeUndefined();
    const readme = readFileSync(path.join(cwd, 'connectors', 'freshness', 'README.md'), 'utf8');
    expect(readme).toContain('| `postgres_password` 🔒 | secret | required | Password |');
    expect(readme).toContain('| `sync_events` | `event_timestamp`, `connector_id` |');
    expect((await updateDocs({cwd, program, ...quiet})).written).toEqual([]);
  });

  it('says which markers a README lacks, and update adds the sections', async () => {
    const cwd = project('# freshness\n\nno generated sections yet\n');
    await expect(checkDocs({cwd, program, ...quiet})).rejects.toThrow(/connectors\/freshness\/README\.md has no secrets or tables markers \(<!-- generated:secrets -->/);
    await updateDocs({cwd, program, ...quiet});
    const readme = readFileSync(path.join(cwd, 'connectors', 'freshness', 'README.md'), 'utf8');
    expect(readme).toMatch(/^# freshness\n\nno generated sections yet\n\n## Secrets\n\n<!-- generated:secrets -->\n/);
    expect(readme).toContain('\n## Tables\n\n<!-- generated:tables -->\n');
  });
});

describe("the repository's docs", () => {
  it('are what ./fivetran docs update writes from the connectors and the CLI', async () => {
    await expect(checkDocs({cwd: REPO, ...quiet})).resolves.toBeUndefined();
  });

  it("give a connector fresh from the template current sections, so ./fivetran test passes on it untouched", async () => {
    mkdirSync(path.join(REPO, '.fivetran', 'tmp'), {recursive: true});
    const work = mkdtempSync(path.join(REPO, '.fivetran', 'tmp', 'docs-test-'));
    try {
      const created = await createConnector({name: 'orders_api', destination: work, cwd: REPO, log: () => undefined});
      const {connector} = (await import(pathToFileURL(path.join(created.dir, 'index.ts')).href)) as {connector: Connector};
      const readme = readFileSync(path.join(created.dir, 'README.md'), 'utf8');
      expect(readme).toContain('| `api_token` 🔒 | secret | required |');
      expect(connectorReadme(readme, connector)).toBe(readme);
    } finally {
      rmSync(work, {recursive: true, force: true});
    }
  });

  it('link only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of docFiles()) {
      const text = readFileSync(path.join(REPO, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(link!)) continue;
        const [target, hash] = link!.split('#');
        const resolved = target ? path.join(path.dirname(path.join(REPO, file)), target) : path.join(REPO, file);
        if (!existsSync(resolved)) broken.push(`${file}: ${link} (no such file)`);
        else if (hash && resolved.endsWith('.md') && !headingAnchors(readFileSync(resolved, 'utf8')).has(hash)) broken.push(`${file}: ${link} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('state no test count, which would go stale with the next test', () => {
    for (const file of docFiles()) {
      expect(readFileSync(path.join(REPO, file), 'utf8'), file).not.toMatch(/\b\d[\d,]* (tests|test files)\b/);
    }
  });
});

/** README.md, docs/*.md and every connector's README, relative to the repository. */
function docFiles(): string[] {
  const docs = readdirSync(path.join(REPO, 'docs')).filter((file) => file.endsWith('.md')).map((file) => path.join('docs', file));
  const connectors = readdirSync(path.join(REPO, 'connectors')).map((name) => path.join('connectors', name, 'README.md'));
  return ['README.md', ...docs, ...connectors.filter((file) => existsSync(path.join(REPO, file)))];
}

/** The anchors GitHub gives a Markdown file's headings (`## \`./fivetran sync\`` → `fivetran-sync`). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.*)$/gm)) {
    const slug = heading!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count ? `${slug}-${count}` : slug);
  }
  return anchors;
}
