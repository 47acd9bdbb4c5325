import {spawn} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let project: string;

/** A project whose only function's demo waits until it is interrupted. */
beforeAll(() => {
  project = mkdtempSync(path.join(tmpdir(), 'fivetran-demo-signal-'));
  writeFileSync(path.join(project, 'package.json'), '{"name": "demo-signal-test", "type": "module"}');
  mkdirSync(path.join(project, 'connectors', 'waiter'), {recursive: true});
  writeFileSync(
    path.join(project, 'connectors', 'waiter', 'index.ts'),
    `import {checkpoint, defineConnector, z} from ${JSON.stringify(path.join(repo, 'sdk', 'index.js'))};
export const connector = defineConnector({name: 'waiter', secrets: z.object({}), async test() {}, async *sync() { yield checkpoint({}); }});
`,
  );
  writeFileSync(
    path.join(project, 'connectors', 'waiter', 'demo.ts'),
    `export const demo = async (ctx: {print(line: string): void}) => {
  ctx.print('waiting for a signal');
  await new Promise((resolve) => setTimeout(resolve, 30_000));
};
`,
  );
  writeFileSync(path.join(project, 'deploy.yaml'), 'waiter-fn: {connector: waiter, environment: dev}\n');
});
afterAll(() => rmSync(project, {recursive: true, force: true}));

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

describe('./fivetran demo', () => {
  it('stops PostgreSQL and the API simulator when interrupted, and exits 130', async () => {
    const child = spawn(process.execPath, ['--import', path.join(repo, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs'), path.join(repo, 'cli', 'index.ts'), 'demo'], {cwd: project, stdio: ['ignore', 'pipe', 'pipe']});
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not reach its function:\n${output}`)), 50_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('waiting for a signal')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then(() => reject(new Error(`the demo exited early:\n${output}`)));
    });
    const postgresPort = Number(/PostgreSQL +embedded, port (\d+)/.exec(output)![1]);
    const apiPort = Number(/simulator at http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(output)![1]);
    expect(await refused(apiPort)).toBe(false);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(output).toContain('interrupted (SIGINT): stopping PostgreSQL and the API simulator');
    expect(await refused(postgresPort)).toBe(true);
    expect(await refused(apiPort)).toBe(true);
  });
});
