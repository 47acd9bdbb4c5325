// monitor wait against the API simulator with short syncs and polls: success, failure, timeout,
// rescheduled, paused, broken setup, and waiting without triggering (the sensor's way).
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {FivetranApi} from '../../sdk/fivetran-api.js';
import {parseDuration} from './common.js';
import {completion, EXIT_SYNC_FAILED, EXIT_TIMEOUT, monitorWait} from './wait.js';

let sim: ApiSimulator;
let env: NodeJS.ProcessEnv;
const lines: string[] = [];
const write = (text: string) => lines.push(text);

beforeAll(async () => {
  sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 8, seed: 21, mix: {healthy: 1}}), rateLimit: false, syncDurationMs: 200});
  env = {FIVETRAN_API_KEY: sim.apiKey, FIVETRAN_API_SECRET: sim.apiSecret, FIVETRAN_API_URL: sim.url};
});
afterAll(async () => {
  await sim.close();
});

const ids = () => sim.fleet.connections.map((c) => c.id);
const wait = (connectionId: string, extra: Partial<Parameters<typeof monitorWait>[0]> = {}) =>
  monitorWait({connectionId, env, write, poll: '50ms', timeout: '10s', progress: false, retries: 0, ...extra});

describe('monitor wait', () => {
  it('triggers a sync and exits 0 when it succeeds', async () => {
    const id = ids()[0]!;
    const before = sim.connection(id).succeeded_at as string;
    const result = await wait(id, {trigger: true});
    expect(result).toMatchObject({outcome: 'succeeded', connection_id: id, triggers: 1});
    expect(Date.parse(result.succeeded_at)).toBeGreaterThan(Date.parse(before));
    expect(sim.syncs.filter((s) => s.connectionId === id)).toHaveLength(1);
    expect(lines.join('')).toMatch(new RegExp(`${id}: the sync succeeded at`));
  });

  it("takes a deploy.yaml function's connection id from fivetran.lock.yaml", async () => {
    const project = mkdtempSync(path.join(tmpdir(), 'fivetran-wait-lock-'));
    try {
      mkdirSync(path.join(project, 'connectors'));
      writeFileSync(path.join(project, 'package.json'), '{"name": "fleet"}\n');
      const id = ids()[5]!;
      writeFileSync(path.join(project, 'fivetran.lock.yaml'), `orders-fn:\n  connection_id: ${id}\n  group_id: g1\n  schema: orders_fn\n`);
      const result = await wait('orders-fn', {trigger: true, cwd: project});
      expect(result).toMatchObject({outcome: 'succeeded', connection_id: id});
    } finally {
      rmSync(project, {recursive: true, force: true});
    }
  });

  it('exits 1 with the reason when the sync fails', async () => {
    const id = ids()[1]!;
    sim.failNextSync(id, 'the source database refused the connection');
    await expect(wait(id, {trigger: true})).rejects.toMatchObject({
      exitCode: EXIT_SYNC_FAILED,
      message: expect.stringMatching(new RegExp(`${id}: the sync failed at .*the source database refused the connection`)),
    });
  });

  it('exits 3 when the sync outlasts the timeout, saying what it was doing', async () => {
    const id = ids()[2]!;
    sim.setSyncDuration(60_000, id);
    await expect(wait(id, {trigger: true, timeout: '300ms'})).rejects.toMatchObject({
      exitCode: EXIT_TIMEOUT,
      message: expect.stringMatching(/timed out after 300ms waiting for the sync to complete \(sync_state syncing/),
    });
  });

  it('unpauses a paused connection before triggering', async () => {
    const id = ids()[3]!;
    sim.markPaused(id);
    const result = await wait(id, {trigger: true});
    expect(result.outcome).toBe('succeeded');
    expect(sim.connection(id).paused).toBe(false);
  });

  it('triggers again after rescheduled_for when a manual sync is rescheduled', async () => {
    const id = ids()[4]!;
    const connection = sim.fleet.connections.find((c) => c.id === id)!;
    connection.schedule_type = 'manual';
    sim.markRescheduled(id, sim.now() + 300);
    const result = await wait(id, {trigger: true, rescheduleGraceMs: 50});
    expect(result).toMatchObject({outcome: 'succeeded', triggers: 2});
  });

  it('gives up when the reschedule ends after the timeout', async () => {
    const id = ids()[5]!;
    sim.fleet.connections.find((c) => c.id === id)!.schedule_type = 'manual';
    sim.markRescheduled(id, sim.now() + 60 * 60_000);
    await expect(wait(id, {trigger: true, timeout: '2s'})).rejects.toMatchObject({exitCode: EXIT_TIMEOUT, message: expect.stringMatching(/rescheduled until .*raise --timeout/)});
  });

  it('refuses to trigger a broken connection, naming the problem', async () => {
    const id = ids()[6]!;
    sim.markBroken(id, 'Reconnect the source');
    await expect(wait(id, {trigger: true})).rejects.toMatchObject({exitCode: EXIT_SYNC_FAILED, message: expect.stringMatching(/setup is broken \(Reconnect the source\)/)});
  });

  it('without --trigger, waits for the next completion someone else starts', async () => {
    const id = ids()[7]!;
    const api = new FivetranApi({apiKey: sim.apiKey, apiSecret: sim.apiSecret, baseUrl: sim.url});
    const waiting = wait(id);
    setTimeout(() => void api.triggerSync(id), 150);
    await expect(waiting).resolves.toMatchObject({outcome: 'succeeded', triggers: 0});
  });

  it('fails clearly without credentials in the environment', async () => {
    await expect(monitorWait({connectionId: 'x', env: {}})).rejects.toThrow(/set FIVETRAN_API_KEY and FIVETRAN_API_SECRET/);
  });
});

describe('the completion rule and durations', () => {
  const c = (patch: Record<string, unknown>) => ({id: 'c', group_id: 'g', service: 's', schema: 's', paused: false, succeeded_at: null, failed_at: null, status: {sync_state: 'scheduled'}, ...patch});
  const T = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['a running sync is not done', c({status: {sync_state: 'syncing'}, succeeded_at: '2026-01-02T00:00:00Z'}), 'running'],
    ['a failure after T and after the last success failed', c({failed_at: '2026-01-02T00:00:00Z', succeeded_at: '2025-12-31T00:00:00Z'}), 'failed'],
    ['a success after T succeeded', c({succeeded_at: '2026-01-02T00:00:00Z', failed_at: '2026-01-01T12:00:00Z'}), 'succeeded'],
    ['nothing after T is pending', c({succeeded_at: '2025-12-31T00:00:00Z'}), 'pending'],
    ['nulls count as the epoch', c({}), 'pending'],
  ])('%s', (_name, connection, outcome) => {
    expect(completion(connection as never, T)).toBe(outcome);
  });

  it('parses durations like 30m, 15s, 1h30m, 250ms and bare seconds', () => {
    expect([parseDuration('30m'), parseDuration('15s'), parseDuration('1h30m'), parseDuration('250ms'), parseDuration('2')]).toEqual([1_800_000, 15_000, 5_400_000, 250, 2000]);
    expect(() => parseDuration('soon', '--timeout')).toThrow(/--timeout "soon" is not a duration; use e.g. 30m/);
    expect(() => parseDuration('10 minutes')).toThrow(/not a duration/);
  });
});
