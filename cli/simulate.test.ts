import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {FivetranApi} from '../sdk/fivetran-api.js';
import {simulateApi} from './simulate.js';

describe('./fivetran simulate api', () => {
  it('serves a generated fleet and prints how to reach it', async () => {
    const out: string[] = [];
    const sim = await simulateApi({port: 0, groups: 2, connectionsPerGroup: 5, seed: 4, write: (text) => void out.push(text)});
    try {
      expect(out.join('')).toContain(`Fivetran API simulator at ${sim.url}/v1`);
      expect(out.join('')).toContain(`FIVETRAN_API_URL=${sim.url} FIVETRAN_API_KEY=sim_api_key FIVETRAN_API_SECRET=sim_api_secret ./fivetran monitor quickstart --all`);
      expect(out.join('')).toMatch(/2 groups, 11 connections: /);
      const api = new FivetranApi({apiKey: 'sim_api_key', apiSecret: 'sim_api_secret', baseUrl: sim.url, retries: 0});
      const connections = await api.listConnections();
      expect(connections).toHaveLength(11);
      // the Platform Connector, so that monitor metadata has something to read
      expect(connections.filter((c) => c.service === 'fivetran_log').map((c) => c.id)).toEqual(['platform_log']);
      expect(out.join('')).toContain('the Platform Connector platform_log (fivetran_log → fivetran_metadata): ./fivetran monitor metadata');
    } finally {
      await sim.close();
    }
  });

  it('serves the fleet of a file, and says what is wrong with a bad one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-simulate-'));
    try {
      writeFileSync(path.join(dir, 'fleet.json'), JSON.stringify({groups: [{id: 'g1'}], connections: [{id: 'c1', group_id: 'g1', health: 'paused'}]}));
      const sim = await simulateApi({port: 0, fleet: 'fleet.json', cwd: dir, write: () => undefined});
      try {
        expect(sim.connection('c1')).toMatchObject({group_id: 'g1', paused: true, status: {sync_state: 'paused', setup_state: 'connected'}});
      } finally {
        await sim.close();
      }
      writeFileSync(path.join(dir, 'bad.json'), '{"groups": "x"}');
      await expect(simulateApi({port: 0, fleet: 'bad.json', cwd: dir, write: () => undefined})).rejects.toThrow(/must hold \{"groups": \[\.\.\.\], "connections": \[\.\.\.\]\}/);
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });
});
