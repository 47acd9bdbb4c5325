import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import {connectorEntries, loadDeployConfig} from '../project/deploy-yaml.js';
import {runDemo} from './demo.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sdk = path.join(repo, 'sdk', 'index.js');
let project: string;

/**
 * A throwaway project: `words` (a demo that loads its SQL, syncs twice and checks the warehouse), `broken`
 * (a demo whose sync fails) and `plain` (no demo.ts).
 */
beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'fivetran-demo-test-'));
  writeFileSync(path.join(project, 'package.json'), '{"name": "demo-test", "type": "module"}');
  const connector = (name: string, body: string) => {
    mkdirSync(path.join(project, 'connectors', name), {recursive: true});
    writeFileSync(
      path.join(project, 'connectors', name, 'index.ts'),
      `import pg from 'pg';
import {checkpoint, defineConnector, field, upsert, z} from ${JSON.stringify(sdk)};
export const connector = defineConnector({
  name: ${JSON.stringify(name)},
  secrets: z.object({url: field.secret()}),
  tables: {words: {primaryKey: ['word']}},
  async test() {},
  async *sync({secrets}) {
    ${body}
  },
});
`,
    );
  };
  connector(
    'words',
    `const client = new pg.Client({connectionString: secrets.url});
    await client.connect();
    const {rows} = await client.query('SELECT word FROM words ORDER BY word');
    await client.end();
    for (const row of rows) yield upsert('words', {word: row.word, length: row.word.length});
    yield checkpoint({count: rows.length});`,
  );
  connector('broken', `yield upsert('words', {length: 1}); yield checkpoint({});`);
  connector('plain', `yield checkpoint({});`);
  mkdirSync(path.join(project, 'sql', 'words'), {recursive: true});
  writeFileSync(path.join(project, 'sql', 'words', 'setup_postgres.sql'), `CREATE TABLE IF NOT EXISTS words (word text PRIMARY KEY); INSERT INTO words VALUES ('alpha'), ('beta') ON CONFLICT DO NOTHING;`);
  writeFileSync(
    path.join(project, 'connectors', 'words', 'demo.ts'),
    `export const demo = async (ctx) => {
  const first = await ctx.sync({url: ctx.postgres.url}, {label: 'first'});
  await ctx.runSqlFile('words/more.sql');
  await ctx.sync({url: ctx.postgres.url}, {label: 'second'});
  const rows = await ctx.warehouse('select count(*) as n from ' + ctx.schema + '.words');
  ctx.print('warehouse has ' + rows[0].n + ' words; first sync saw ' + first.rows.words + '; api ' + ctx.api.connectionIds[0]);
};
`,
  );
  writeFileSync(path.join(project, 'sql', 'words', 'more.sql'), `INSERT INTO words VALUES ('gamma') ON CONFLICT DO NOTHING;`);
  writeFileSync(path.join(project, 'connectors', 'broken', 'demo.ts'), `export const demo = async (ctx) => { await ctx.sync({url: 'x'}); };\n`);
  writeFileSync(path.join(project, 'deploy.yaml'), 'word-count: {connector: words, environment: dev}\nbroken-fn: {connector: broken, environment: dev}\nplain-fn: {connector: plain, environment: dev}\n');
});
afterAll(() => rmSync(project, {recursive: true, force: true}));

describe('runDemo', () => {
  it('runs each function, prints what happened, skips one without demo.ts and reports a failed one', async () => {
    const out: string[] = [];
    const result = await runDemo({cwd: project, postgresUrl: inject('databaseUrl'), write: (text) => void out.push(text)});
    const text = out.join('');
    expect(result.ok).toBe(false);
    expect(result.functions.map((fn) => [fn.function, fn.status])).toEqual([['broken-fn', 'failed'], ['plain-fn', 'skipped'], ['word-count', 'ok']]);
    expect(result.functions[2]).toMatchObject({calls: 2, rows: {words: 5}});
    expect(text).toContain('source: database demo_word_count loaded from sql/words/setup_postgres.sql');
    expect(text).toContain('sync (first): 1 call, rows: words 2');
    expect(text).toContain('sync (second): 1 call, rows: words 3');
    expect(text).toContain('    warehouse has 3 words; first sync saw 2; api demo_word_count');
    expect(text).toContain('skipped: connectors/plain/demo.ts does not exist yet');
    expect(text).toMatch(/✗ failed: sync call 1 failed: insert\.words\[0\] lacks primary key column "word"/);
    expect(text).toContain('Demo FAILED: 1 ok, 1 failed, 1 skipped');
    expect(text).toContain('./fivetran warehouse query "select * from word_count.words limit 20" --warehouse');
  });

  it('runs the functions of this repository', async () => {
    const out: string[] = [];
    const outputDir = mkdtempSync(path.join(tmpdir(), 'fivetran-demo-repo-'));
    try {
      const result = await runDemo({cwd: repo, postgresUrl: inject('databaseUrl'), outputDir, write: (text) => void out.push(text)});
      const text = out.join('');
      // every connector entry; a function entry (fivetran-webhooks) has no sync to show
      for (const fn of connectorEntries(loadDeployConfig(repo))) expect(text).toContain(`▸ ${fn.name} (connector ${fn.connector}`);
      expect(text).not.toContain('▸ fivetran-webhooks');
      expect(result.functions.filter((fn) => fn.status === 'failed').map((fn) => `${fn.function}: ${fn.note}`)).toEqual([]);
      expect(result.ok).toBe(true);
      // the replication demo ends with a delete and a primary key update arriving through change data capture
      expect(text).toMatch(/cdc: 2 deletes and 1 upsert in 1 call\(s\); warehouse: ORD-DEMO-NEW has item 5 only/);
    } finally {
      rmSync(outputDir, {recursive: true, force: true});
    }
  });
});
