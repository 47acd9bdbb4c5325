// ./fivetran simulate api: the Fivetran REST API simulator (emulator/api-simulator.ts) on a port, over a
// generated fleet or one from a file, for trying a connector or a DAG against "Fivetran" on a laptop.
import path from 'node:path';
import {startApiSimulator, type ApiSimulator} from '../emulator/api-simulator.js';
import {generateFleet, loadFleetFile, type Fleet} from '../emulator/fleet.js';
import {CliConfigError, portInUse, UsageError} from './errors.js';

export interface SimulateApiOptions {
  port?: number;
  host?: string;
  fleet?: string;
  groups?: number;
  connectionsPerGroup?: number;
  seed?: number;
  apiKey?: string;
  apiSecret?: string;
  latencyMs?: number;
  syncDurationMs?: number;
  cwd?: string;
  write?: (text: string) => void;
}

export async function simulateApi(options: SimulateApiOptions = {}): Promise<ApiSimulator> {
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  const port = options.port ?? 8765;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${port} must be a port number from 0 to 65535`);
  let fleet: Fleet;
  if (options.fleet) {
    try {
      fleet = loadFleetFile(path.resolve(options.cwd ?? process.cwd(), options.fleet));
    } catch (error) {
      throw new CliConfigError((error as Error).message);
    }
  } else {
    fleet = generateFleet({groups: options.groups ?? 3, connectionsPerGroup: options.connectionsPerGroup ?? 20, seed: options.seed ?? 1});
  }
  let sim: ApiSimulator;
  try {
    sim = await startApiSimulator({port, host: options.host, fleet, apiKey: options.apiKey, apiSecret: options.apiSecret, latencyMs: options.latencyMs, syncDurationMs: options.syncDurationMs});
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw code === 'EADDRINUSE' ? portInUse(port) : new CliConfigError(`cannot start the API simulator: ${(error as Error).message}`);
  }
  // a generated account has the Platform Connector too, as most accounts do: `monitor metadata` reads it
  const platform = options.fleet ? undefined : sim.addConnection({id: 'platform_log', group_id: sim.fleet.groups[0]!.id, service: 'fivetran_log', schema: 'fivetran_metadata', sync_frequency: 360, health: 'healthy'});
  const counts = new Map<string, number>();
  for (const connection of sim.fleet.connections) counts.set(connection.health, (counts.get(connection.health) ?? 0) + 1);
  const example = sim.fleet.connections[0]?.id ?? '<id>';
  write(
    [
      `Fivetran API simulator at ${sim.url}/v1 (Ctrl-C to stop)`,
      `  api key ${sim.apiKey}, api secret ${sim.apiSecret}`,
      `  ${sim.fleet.groups.length} groups, ${sim.fleet.connections.length} connections: ${[...counts].map(([health, n]) => `${n} ${health}`).join(', ')}`,
      `  try: curl -u ${sim.apiKey}:${sim.apiSecret} '${sim.url}/v1/connections?limit=2'`,
      `       curl -u ${sim.apiKey}:${sim.apiSecret} -X POST -H 'content-type: application/json' -d '{"force": false}' ${sim.url}/v1/connections/${example}/sync`,
      `  Quickstart transformations qs_hubspot (succeeds), qs_stripe (fails), qs_salesforce (runs 30 min): FIVETRAN_API_URL=${sim.url} FIVETRAN_API_KEY=${sim.apiKey} FIVETRAN_API_SECRET=${sim.apiSecret} ./fivetran monitor quickstart --all`,
      ...(platform ? [`  the Platform Connector ${platform.id} (fivetran_log → ${platform.schema}): ./fivetran monitor metadata`] : []),
      '',
    ].join('\n'),
  );
  return sim;
}
