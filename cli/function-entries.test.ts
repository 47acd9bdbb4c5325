// A function entry of deploy.yaml (function: a folder under functions/, e.g. fivetran-webhooks) is no Fivetran
// connector: the commands that work on a connector's connection, sync or schedule refuse it in one line, and
// those that go over the whole fleet leave it out.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {airflowDag, airflowDags} from './airflow.js';
import {connect} from './connect.js';
import {resync} from './connection-commands.js';
import {syncFunction} from './sync.js';

let root: string;
const refusal = (command: string) => `hooks deploys functions/fivetran-webhooks, which is not a Fivetran connector; ${command} works on connector entries of deploy.yaml only`;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'fivetran-function-entries-'));
  const files: Record<string, string> = {
    'package.json': '{"private": true, "type": "module"}\n',
    'connectors/freshness/index.ts': 'export const main = () => 1;\n',
    'functions/fivetran-webhooks/index.ts': 'export const main = () => 1;\n',
    'deploy.yaml': 'hooks: {function: fivetran-webhooks, environment: prod}\norders: {connector: freshness, environment: dev}\n',
    'secrets.json': '{}\n',
  };
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), {recursive: true});
    writeFileSync(path.join(root, file), text);
  }
});
afterAll(() => rmSync(root, {recursive: true, force: true}));

describe('connector-only commands and a function entry', () => {
  it('sync refuses it, with or without --url', async () => {
    await expect(syncFunction({target: 'hooks', secrets: 'secrets.json', cwd: root})).rejects.toThrow(refusal('sync'));
    await expect(syncFunction({target: 'hooks', secrets: 'secrets.json', url: 'http://127.0.0.1:9/', cwd: root})).rejects.toThrow(refusal('sync'));
  });

  it('connect refuses it by name, and --all leaves it out', async () => {
    await expect(connect({functions: ['hooks'], cwd: root, env: {}})).rejects.toThrow(refusal('connect'));
    // --all reaches the next check (credentials) with the connector entries only
    await expect(connect({all: true, cwd: root, env: {}})).rejects.toThrow(/^no Fivetran group for orders:/);
  });

  it('airflow dag, connection resync refuse it; airflow dags has only connectors to write', async () => {
    await expect(airflowDag({function: 'hooks', schedule: '@daily', connectorId: 'c1', cwd: root})).rejects.toThrow(refusal('airflow dag'));
    await expect(resync({function: 'hooks', cwd: root, env: {}})).rejects.toThrow(refusal('connection resync'));
    await expect(airflowDags({out: path.join(root, 'dags'), cwd: root})).rejects.toThrow(/^no function in deploy.yaml has an airflow: block/);
  });
});
