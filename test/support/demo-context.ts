// A DemoContext for testing one connector's demo.ts against the same pieces `./fivetran demo` uses: a test
// database, the sync runner calling the connector in-process through the Function adapter, and a DuckDB
// warehouse. The lines the demo prints are collected in `lines`.
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import type {DemoApi, DemoContext} from '../../sdk/index.js';
import {inProcessTransport, runSync} from '../../emulator/sync-runner.js';
import type {Warehouse} from '../../emulator/warehouse.js';
import type {Connector} from '../../sdk/connector.js';
import type {TestDatabase} from './postgres.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** An API nothing listens on, for connectors that do not call Fivetran. */
export const NO_API: DemoApi = {url: 'http://127.0.0.1:9', apiKey: 'k', apiSecret: 's', connectionIds: []};

export function testDemoContext(options: {
  functionName: string;
  connector: Connector;
  db: TestDatabase;
  warehouse: Warehouse;
  api?: DemoApi;
}): {ctx: DemoContext; lines: string[]; cleanup: () => void} {
  const lines: string[] = [];
  const stateDir = mkdtempSync(path.join(tmpdir(), `${options.connector.name}-demo-`));
  const schema = options.functionName.replace(/[^a-z0-9]+/gi, '_').toLowerCase();
  const {db, warehouse, functionName} = options;
  const ctx: DemoContext = {
    functionName,
    connector: options.connector.name,
    root,
    postgres: {host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, url: db.url},
    api: options.api ?? NO_API,
    schema,
    async sync(secrets) {
      const summary = await runSync({
        functionName,
        transport: inProcessTransport(options.connector, {sink: () => undefined}),
        secrets,
        stateFile: path.join(stateDir, `${functionName}.json`),
        warehouse,
        schema,
      });
      return {calls: summary.calls, rows: summary.rows, deletes: summary.deletes, state: summary.state, durationMs: summary.durationMs};
    },
    warehouse: async (sql) => (await warehouse.query(sql)).rows,
    print: (line) => lines.push(line),
  };
  return {ctx, lines, cleanup: () => rmSync(stateDir, {recursive: true, force: true})};
}
