// monitor quickstart against the API simulator on loopback, with short runs and polls: success, a failure
// naming the step and model, a timeout naming what still runs, --run (and a run already in progress),
// --connection and --all, bad input, and the API key and secret never in what it prints.
import {afterEach, describe, expect, it, vi} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {runCli} from '../index.js';
import {EXIT_TIMEOUT} from './wait.js';
import {monitorQuickstart, type MonitorQuickstartOptions} from './quickstart.js';

const sims: ApiSimulator[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(options: {durationMs?: number; apiKey?: string; apiSecret?: string} = {}) {
  const sim = await startApiSimulator({
    fleet: generateFleet({groups: 1, connectionsPerGroup: 12, seed: 5, mix: {healthy: 1}}),
    rateLimit: false,
    transformationDurationMs: options.durationMs ?? 300,
    apiKey: options.apiKey,
    apiSecret: options.apiSecret,
  });
  sims.push(sim);
  const lines: string[] = [];
  const printed: string[] = [];
  const env = {FIVETRAN_API_KEY: sim.apiKey, FIVETRAN_API_SECRET: sim.apiSecret, FIVETRAN_API_URL: sim.url};
  const watch = (options: Partial<MonitorQuickstartOptions>) =>
    monitorQuickstart({env, write: (text) => void lines.push(text), print: (text) => void printed.push(text), interval: '40ms', timeout: '10s', retries: 0, ...options});
  return {sim, lines, printed, env, watch};
}

describe('monitor quickstart', () => {
  it('waits for a run in progress and exits 0 when it succeeds, with one line per status change', async () => {
    const {sim, lines, watch} = await start({durationMs: 60_000}); // SCHEDULING for 1 s, then RUNNING
    // once it runs, let it be polled for 400 ms, then move the simulator's clock to the run's end
    const write = (text: string) => {
      lines.push(text);
      if (text.includes('RUNNING')) setTimeout(() => sim.advance(60_000), 400);
    };
    const result = await watch({transformationId: 'qs_hubspot', write});
    expect(result).toMatchObject({outcome: 'succeeded', runs: 0, transformations: [{id: 'qs_hubspot', package_name: 'hubspot', status: 'SUCCEEDED', errors: []}]});
    expect(result.polls).toBeGreaterThan(3);
    // polled many times while RUNNING, yet each status is one line (SCHEDULING too, unless the first poll came late)
    const statuses = lines.map((l) => l.replace(/ (since|at) .*$/s, '').replace(/ \([^)]*\)\n$/, ''));
    expect(statuses.filter((l) => !l.endsWith('SCHEDULING'))).toEqual(['qs_hubspot (hubspot): RUNNING', 'qs_hubspot (hubspot): SUCCEEDED']);
    expect(statuses.filter((l) => l.endsWith('SCHEDULING')).length).toBeLessThanOrEqual(1);
    expect(Date.parse(result.transformations[0]!.last_ended_at!)).toBeGreaterThan(Date.parse(result.transformations[0]!.last_started_at!));
  });

  it('exits 1 with one line naming the transformation, the failing step and model, and the message', async () => {
    const {watch, printed} = await start();
    const error = await watch({transformationId: 'qs_stripe', json: true}).catch((e: unknown) => e);
    expect(error).toMatchObject({exitCode: 1});
    const message = (error as Error).message;
    expect(message).toMatch(/^qs_stripe \(stripe\) FAILED at \d{4}-\d\d-\d\dT[^:]+:\d\d:\d\d\.\d+Z: step "dbt run --select package:stripe" failed at model stripe__balance_transactions: .*column "reporting_category" does not exist$/);
    expect(message).not.toContain('\n');
    // --json still prints the outcome of each for a script to read
    expect(JSON.parse(printed.join(''))).toMatchObject({outcome: 'failed', transformations: [{id: 'qs_stripe', status: 'FAILED', errors: [expect.stringContaining('stripe__balance_transactions')]}]});
  });

  it('exits 3 on timeout saying how long it waited and what was still running', async () => {
    const {watch} = await start();
    await expect(watch({transformationId: 'qs_salesforce', timeout: '400ms'})).rejects.toMatchObject({
      exitCode: EXIT_TIMEOUT,
      message: expect.stringMatching(/^timed out after 400ms with 1 of 1 still running: qs_salesforce \(salesforce\) (SCHEDULING|RUNNING since \S+Z); raise --timeout/),
    });
  });

  it('without --run, an ended transformation is its last outcome at once', async () => {
    const {sim, watch} = await start({durationMs: 50});
    await new Promise((resolve) => setTimeout(resolve, 120));
    const result = await watch({transformationId: 'qs_hubspot'});
    expect(result).toMatchObject({outcome: 'succeeded', polls: 1});
    expect(sim.requestCount('POST /v1/transformations/{id}/run')).toBe(0);
  });

  it('--run starts one run and waits for that run, not the outcome the API showed before it', async () => {
    const {sim, watch, lines} = await start({durationMs: 50});
    await new Promise((resolve) => setTimeout(resolve, 120));
    const before = sim.transformations.transformation('qs_hubspot').last_ended_at as string;
    sim.transformations.setRunDuration(300, 'qs_hubspot');
    const result = await watch({transformationId: 'qs_hubspot', run: true});
    expect(result).toMatchObject({outcome: 'succeeded', runs: 1});
    expect(sim.requestCount('POST /v1/transformations/{id}/run')).toBe(1);
    expect(sim.transformations.runs.filter((r) => r.transformationId === 'qs_hubspot')).toHaveLength(2);
    expect(Date.parse(result.transformations[0]!.last_ended_at!)).toBeGreaterThan(Date.parse(before));
    expect(lines[0]).toBe('qs_hubspot (hubspot): run started\n');
  });

  it('--run reports a failure of the run it started', async () => {
    const {sim, watch} = await start({durationMs: 50});
    await new Promise((resolve) => setTimeout(resolve, 120));
    sim.transformations.failNextRun('qs_hubspot', 'step "dbt test" failed at test not_null_hubspot__contacts_contact_id:\n  Got 3 results, configured to fail if != 0\n');
    await expect(watch({transformationId: 'qs_hubspot', run: true})).rejects.toMatchObject({
      exitCode: 1,
      // dbt's multi-line error, on one line
      message: expect.stringMatching(/^qs_hubspot \(hubspot\) FAILED at .*: step "dbt test" failed at test not_null_hubspot__contacts_contact_id: Got 3 results, configured to fail if != 0$/),
    });
  });

  it('--run on a transformation already running waits for that run (409) instead of failing', async () => {
    const {sim, watch, lines} = await start({durationMs: 1500});
    const result = await watch({transformationId: 'qs_hubspot', run: true});
    expect(result).toMatchObject({outcome: 'succeeded', runs: 0});
    expect(lines[0]).toBe('qs_hubspot (hubspot): a run is in progress already; waiting for it\n');
    expect(sim.transformations.runs.filter((r) => r.transformationId === 'qs_hubspot')).toHaveLength(1);
  });

  it("--connection watches that connection's Quickstart transformations, with one list request a poll", async () => {
    const {sim, watch} = await start();
    const connectionId = (sim.transformations.transformation('qs_hubspot').transformation_config as {connection_ids: string[]}).connection_ids[0]!;
    sim.transformations.add({id: 'qs_hubspot_ads', package_name: 'hubspot_ads', connection_ids: [connectionId], durationMs: 200, run: true});
    sim.resetRequests();
    const result = await watch({connection: connectionId});
    expect(result.transformations.map((t) => [t.id, t.status])).toEqual([['qs_hubspot', 'SUCCEEDED'], ['qs_hubspot_ads', 'SUCCEEDED']]);
    // one list to select them, then one request a poll (the list while both run; by id once one is left)
    expect(result.polls).toBeGreaterThan(2);
    expect(sim.requestCount()).toBe(result.polls + 1);
  });

  it('--all waits for every one and names each that failed, and what was still running at the timeout', async () => {
    const {watch} = await start();
    await expect(watch({all: true, timeout: '1500ms'})).rejects.toMatchObject({
      exitCode: EXIT_TIMEOUT,
      message: expect.stringMatching(/still running: qs_salesforce \(salesforce\) RUNNING since .* \(and already failed: qs_stripe \(stripe\) FAILED: step "dbt run/),
    });
    const other = await start({durationMs: 20}); // qs_salesforce: 40 × 20 ms
    await expect(other.watch({all: true})).rejects.toMatchObject({exitCode: 1, message: expect.stringMatching(/^1 of 3 transformations did not succeed: qs_stripe \(stripe\) FAILED at /)});
  });

  it.each([
    ['nothing to watch', {}, /^give a transformation id, --connection CONNECTION_ID or --all/],
    ['two selections', {transformationId: 'qs_stripe', all: true}, /^give only one of a transformation id, --connection CONNECTION_ID or --all/],
    ['a bad --interval', {all: true, interval: 'often'}, /^--interval "often" is not a duration; use e\.g\. 30m/],
    ['a zero --interval', {all: true, interval: '0s'}, /^--interval "0s" must be longer than 0/],
    ['a bad --timeout', {all: true, timeout: 'later'}, /^--timeout "later" is not a duration/],
  ])('refuses %s with a usage error (exit 2)', async (_name, options, message) => {
    const {watch} = await start();
    await expect(watch(options)).rejects.toMatchObject({exitCode: 2, message: expect.stringMatching(message)});
  });

  it('an unknown id is a usage error listing the ids there are', async () => {
    const {watch} = await start();
    await expect(watch({transformationId: 'qs_nope'})).rejects.toMatchObject({
      exitCode: 2,
      message: 'no transformation "qs_nope" in the account (its Quickstart transformations: qs_hubspot (hubspot), qs_stripe (stripe), qs_salesforce (salesforce)); pass one of those ids, --connection CONNECTION_ID or --all',
    });
  });

  it('an unknown connection, and one without a Quickstart transformation, each say so', async () => {
    const {sim, watch} = await start();
    await expect(watch({connection: 'no_such_connection'})).rejects.toThrow(/^Fivetran API found no connection "no_such_connection" \(404/);
    const unmodelled = sim.fleet.connections.find((c) => !JSON.stringify(sim.transformations.transformation('qs_hubspot')).includes(c.id) && !JSON.stringify(sim.transformations.transformation('qs_stripe')).includes(c.id) && !JSON.stringify(sim.transformations.transformation('qs_salesforce')).includes(c.id))!;
    await expect(watch({connection: unmodelled.id})).rejects.toMatchObject({exitCode: 1, message: expect.stringMatching(new RegExp(`^connection "${unmodelled.id}" has no Quickstart transformation \\(its Quickstart transformations: qs_hubspot`))});
  });

  it('never prints the API key or secret, in progress, JSON, failures or a rejected login', async () => {
    const apiKey = 'key-4f7c1e9a';
    const apiSecret = 'secret-b82d5e07c1';
    const {watch, lines, printed, env} = await start({apiKey, apiSecret});
    const messages: string[] = [];
    await watch({all: true, json: true, timeout: '600ms'}).catch((e: Error) => void messages.push(e.message));
    await watch({transformationId: 'qs_stripe', run: true}).catch((e: Error) => void messages.push(e.message));
    const rejected = await monitorQuickstart({env: {...env, FIVETRAN_API_SECRET: 'wrong-secret-3a9'}, transformationId: 'qs_hubspot', retries: 0, write: (t) => void lines.push(t)}).then(() => new Error('it did not fail'), (e: Error) => e);
    expect(rejected.message).toMatch(/rejected the credentials \(401\).*check FIVETRAN_API_KEY and FIVETRAN_API_SECRET/);
    messages.push(rejected.message);
    const everything = [...lines, ...printed, ...messages].join('\n');
    expect(everything).toContain('qs_stripe');
    for (const value of [apiKey, apiSecret, 'wrong-secret-3a9', Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')]) expect(everything).not.toContain(value);
  });

  it('runs as ./fivetran monitor quickstart, ending a failure with one line and exit 1', async () => {
    const {env} = await start();
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
    let stderr = '';
    // the progress lines go to the process's stderr; the error line to writeErr
    const code = await runCli(['monitor', 'quickstart', 'qs_stripe', '--interval', '50ms', '--timeout', '10s'], {writeErr: (text) => (stderr += text)});
    expect(code).toBe(1);
    expect(stderr).toMatch(/^fivetran: qs_stripe \(stripe\) FAILED at .*stripe__balance_transactions.*\n$/);
    expect(stderr.split('\n')).toHaveLength(2);
  });
});
