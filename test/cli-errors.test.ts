// What a person sees from ./fivetran in a shell: --version, one line per error that ends with its newline
// (so the next command starts on a line of its own), and a busy port named with --port, for HTTP and gRPC.
import net from 'node:net';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {REPO, runCli} from './support/cli-process.js';

describe('./fivetran in a shell', () => {
  it('prints the version of package.json with --version and -V', async () => {
    const {version} = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {version: string};
    for (const flag of ['--version', '-V']) {
      const run = await runCli([flag]);
      expect(run).toMatchObject({code: 0, stdout: `${version}\n`, stderr: ''});
    }
  });

  it('ends every error with a newline, so two failures in a row are two lines', async () => {
    const first = await runCli(['airflow', 'dag', 'customer-freshness']);
    const second = await runCli(['airflow', 'dag', 'no-such-function']);
    expect(first.code).toBe(1);
    expect(second.code).toBe(1);
    expect(first.stderr).toMatch(/^fivetran: customer-freshness has no Fivetran connection: run \.\/fivetran connect customer-freshness [^\n]* in deploy\.yaml\n$/);
    expect(second.stderr).toMatch(/^fivetran: unknown function "no-such-function"; deploy\.yaml defines: .*\n$/);
    expect((first.stderr + second.stderr).split('\n')).toHaveLength(3);
  });

  describe('serve on a port another process holds', () => {
    let busy: net.Server;
    let port: number;
    beforeAll(async () => {
      busy = net.createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      port = (busy.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

    it.each([
      {name: 'HTTP', args: []},
      {name: 'gRPC', args: ['--grpc']},
    ])('$name: one line naming the port and --port, exit 1', async ({args}) => {
      const run = await runCli(['serve', 'freshness', '--port', String(port), ...args]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(`fivetran: port ${port} is in use (another server is listening there); stop it, or pick another port with --port\n`);
    });
  });
});
