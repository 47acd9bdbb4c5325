// monitor metadata and monitor wait --metadata against the API simulator: the Platform Connector found among
// the connections, its lag judged against --max-lag, and one line when it is missing, paused or failing.
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {monitorMetadata} from './metadata.js';
import {monitorWait} from './wait.js';

let sim: ApiSimulator;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 4, seed: 5, mix: {healthy: 1}}), rateLimit: false, syncDurationMs: 100});
  env = {FIVETRAN_API_KEY: sim.apiKey, FIVETRAN_API_SECRET: sim.apiSecret, FIVETRAN_API_URL: sim.url};
});
afterEach(async () => {
  await sim.close();
});

const platformConnector = () => sim.addConnection({id: 'log_platform', group_id: sim.fleet.groups[0]!.id, service: 'fivetran_log', schema: 'fivetran_metadata', sync_frequency: 60, health: 'healthy'});

describe('monitor metadata', () => {
  it('reports the Platform Connector with its lag, and passes within --max-lag', async () => {
    platformConnector();
    const out: string[] = [];
    const result = await monitorMetadata({env, maxLag: '6h', write: (text) => out.push(text)});
    expect(result.ok).toBe(true);
    expect(result.connections).toHaveLength(1);
    expect(result.connections[0]).toMatchObject({connection_id: 'log_platform', schema_name: 'fivetran_metadata', health: 'healthy', problem: null});
    expect(result.connections[0]!.lag_minutes).toBeGreaterThanOrEqual(0);
    expect(out.join('')).toMatch(/^connection\s+schema\s+destination\s+health/);
    expect(out.join('')).toMatch(/log_platform\s+fivetran_metadata\s+.*ok$/m);
  });

  it('fails in one line when its last success is older than --max-lag', async () => {
    platformConnector();
    const later = Date.now() + 30 * 3_600_000;
    await expect(monitorMetadata({env, maxLag: '24h', now: () => later, write: () => undefined})).rejects.toMatchObject({
      exitCode: 1,
      message: expect.stringMatching(/^Platform Connector log_platform \(fivetran_metadata\): its last success was .* ago, over --max-lag 1d/),
    });
  });

  it('fails when it is failing or paused, and says how to add one when there is none', async () => {
    await expect(monitorMetadata({env, write: () => undefined})).rejects.toThrow(
      /^no Platform Connector connection \(service fivetran_log\) among 4 connections; add one in Fivetran/,
    );
    platformConnector();
    sim.markPaused('log_platform');
    await expect(monitorMetadata({env, write: () => undefined})).rejects.toThrow(/log_platform \(fivetran_metadata\): it is paused: fivetran_metadata is not updated/);
    sim.markPaused('log_platform', false);
    sim.markBroken('log_platform', 'the destination refused the write');
    await expect(monitorMetadata({env, write: () => undefined})).rejects.toThrow(/log_platform \(fivetran_metadata\): it is broken/);
  });
});

describe('monitor wait --metadata', () => {
  it("waits for the Platform Connector's next sync", async () => {
    platformConnector();
    const result = await monitorWait({metadata: true, env, trigger: true, poll: '50ms', timeout: '10s', progress: false, retries: 0, write: () => undefined});
    expect(result).toMatchObject({outcome: 'succeeded', connection_id: 'log_platform', triggers: 1});
  });

  it('says what is missing when the account has no Platform Connector', async () => {
    await expect(monitorWait({metadata: true, env, poll: '50ms', timeout: '1s', progress: false, retries: 0, write: () => undefined})).rejects.toThrow(/no Platform Connector connection/);
    await expect(monitorWait({env, write: () => undefined})).rejects.toThrow(/give the connection id to wait for, or --metadata/);
  });
});
