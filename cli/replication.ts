// ./fivetran replication drop-slot <function>: drops the logical replication slot of a replication function
// with update_method cdc. A slot nobody advances makes PostgreSQL keep WAL forever, so a function that is
// removed (or switched back to keyset) should take its slot with it. Asks first on a terminal; --yes otherwise.
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {dropSlot} from '../connectors/replication/cdc/slot.js';
import {cdcNames, postgresConfig, type ReplicationSecrets} from '../connectors/replication/secrets.js';
import {resolveTarget} from '../project/deploy-yaml.js';
import {loadConnector, projectRoot} from '../project/root.js';
import {ConnectorError} from '../sdk/errors.js';
import {withPostgres} from '../sdk/postgres.js';
import {parseSecrets} from '../sdk/secrets.js';
import {askTerminal} from './connection-commands.js';
import {CliConfigError, CommandFailed, UsageError} from './errors.js';

export interface DropSlotOptions {
  target: string;
  /** the function's secrets file (JSON), as for ./fivetran sync */
  secrets: string;
  yes?: boolean;
  cwd?: string;
  /** whether a person can be asked (default: stdin and stderr are terminals) */
  interactive?: boolean;
  ask?: (question: string) => Promise<string>;
  stdout?: (text: string) => void;
}

export async function dropReplicationSlot(options: DropSlotOptions): Promise<{slot: string; dropped: boolean}> {
  const cwd = options.cwd ?? process.cwd();
  const root = projectRoot(cwd);
  const out = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const {functionName, connector: connectorName} = resolveTarget(root, options.target, 'replication drop-slot');
  if (connectorName !== 'replication') throw new UsageError(`${functionName} runs the ${connectorName} connector; drop-slot is for replication functions`);
  const file = path.resolve(cwd, options.secrets);
  if (!existsSync(file)) throw new CliConfigError(`secrets file ${options.secrets} not found; give the function's secrets as for ./fivetran sync`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliConfigError(`secrets file ${options.secrets} is not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  const connector = await loadConnector(root, connectorName);
  let secrets: ReplicationSecrets;
  try {
    secrets = parseSecrets(connector.secrets, raw).secrets as ReplicationSecrets;
  } catch (error) {
    throw new CliConfigError(`secrets file ${options.secrets}: ${(error as Error).message}`);
  }
  const {slot} = cdcNames(secrets);
  const where = `${secrets.host}:${secrets.port}/${secrets.database}`;
  if (!options.yes) {
    const interactive = options.interactive ?? (Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY));
    if (!interactive) throw new UsageError(`drop-slot drops the replication slot ${slot} on ${where}; pass --yes to do it without a terminal`);
    const answer = await (options.ask ?? askTerminal)(`drop the replication slot ${slot} on ${where}? Its changes are lost; the next cdc sync needs a resync [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CommandFailed('drop-slot canceled; nothing dropped');
  }
  let dropped: boolean;
  try {
    dropped = await withPostgres(postgresConfig(secrets, 30_000), (client) => dropSlot(client, slot));
  } catch (error) {
    if (error instanceof ConnectorError) throw new CommandFailed(error.message);
    throw new CommandFailed(`cannot drop the replication slot ${slot} on ${where}: ${(error as Error).message.split('\n')[0]}`);
  }
  out(dropped ? `dropped the replication slot ${slot} on ${where}\n` : `no replication slot ${slot} on ${where}; nothing to drop\n`);
  return {slot, dropped};
}
