// The API simulator's /v1/webhooks: the endpoints' answers and errors, and the signed deliveries it makes to a
// real receiver on loopback as its syncs start and end (account webhooks for every connection, group webhooks
// for theirs only, none for an inactive or deleted webhook).
import {createHmac} from 'node:crypto';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {FivetranApi} from '../sdk/fivetran-api.js';
import {startApiSimulator, type ApiSimulator} from './api-simulator.js';
import {generateFleet} from './fleet.js';

let sim: ApiSimulator;
let api: FivetranApi;
let receiver: Server;
let url: string;
const got: {path: string; body: string; signature: string}[] = [];

beforeAll(async () => {
  sim = await startApiSimulator({fleet: generateFleet({groups: 2, connectionsPerGroup: 1, seed: 3, mix: {healthy: 1}}), rateLimit: false, syncDurationMs: 500});
  api = new FivetranApi({apiKey: sim.apiKey, apiSecret: sim.apiSecret, baseUrl: sim.url, retries: 0});
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      got.push({path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-fivetran-signature-256'])});
      res.writeHead(req.url === '/down' ? 503 : 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await sim.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('api simulator webhooks', () => {
  it('creates account and group webhooks with the secret masked, lists, finds and deletes them', async () => {
    const [g1] = sim.fleet.groups;
    const {data: account, status} = await api.createWebhook({url: `${url}/account`, events: ['sync_end'], secret: 'account-secret'});
    expect(status).toBe(201);
    expect(account).toMatchObject({type: 'account', url: `${url}/account`, events: ['sync_end'], active: true, secret: '******'});
    const {data: group} = await api.createWebhook({url: `${url}/group`, events: ['sync_start', 'sync_end'], secret: 'group-secret', groupId: g1!.id});
    expect(group).toMatchObject({type: 'group', group_id: g1!.id});
    expect((await api.listWebhooks()).map((w) => w.id)).toEqual([account.id, group.id]);
    await expect(api.createWebhook({url, events: ['sync_end'], secret: 's', groupId: 'nope'})).rejects.toThrow(/404: Group with id 'nope' doesn't exist/);
    await expect(api.request('POST', 'webhooks/account', {json: {url, events: ['sync_done'], secret: 's'}})).rejects.toThrow(/unknown events "sync_done"/);
    await expect(api.request('GET', 'webhooks/webhook_none')).rejects.toThrow(/404: Webhook with id 'webhook_none' doesn't exist/);
    await sim.webhooks.settled();
    // the test_event of each creation, signed with the webhook's own secret
    expect(got.map((g) => [g.path, JSON.parse(g.body).event])).toEqual([['/account', 'test_event'], ['/group', 'test_event']]);
    expect(got[0]!.signature).toBe(createHmac('sha256', 'account-secret').update(got[0]!.body).digest('hex'));
  });

  it('delivers signed sync_start and sync_end as syncs run, to the webhooks that cover the connection and list the event', async () => {
    got.length = 0;
    const [inGroup, outside] = sim.fleet.groups.map((g) => sim.fleet.connections.find((c) => c.group_id === g.id)!);
    sim.failNextSync(inGroup!.id, 'The function answered 500: boom');
    await api.triggerSync(inGroup!.id);
    await api.triggerSync(outside!.id);
    sim.advance(500);
    await sim.webhooks.settled();
    const seen = got.map((g) => ({path: g.path, ...JSON.parse(g.body)}) as {path: string; event: string; connector_id: string; sync_id: string; data: unknown});
    expect(seen.filter((d) => d.path === '/group').map((d) => [d.event, d.connector_id])).toEqual([['sync_start', inGroup!.id], ['sync_end', inGroup!.id]]);
    expect(seen.filter((d) => d.path === '/account').map((d) => [d.event, d.connector_id, d.data])).toEqual([
      ['sync_end', inGroup!.id, {status: 'FAILURE_WITH_TASK', reason: 'The function answered 500: boom'}],
      ['sync_end', outside!.id, {status: 'SUCCESSFUL'}],
    ]);
    const start = seen.find((d) => d.event === 'sync_start')!;
    expect(seen.find((d) => d.event === 'sync_end' && d.path === '/group')!.sync_id).toBe(start.sync_id);
    expect(JSON.parse(got.find((g) => g.path === '/group')!.body)).toMatchObject({connector_type: inGroup!.service, connector_name: inGroup!.schema, destination_group_id: inGroup!.group_id});
    expect(sim.webhooks.deliveries.slice(-4).map((d) => d.status)).toEqual([204, 204, 204, 204]);
  });

  it('records what the receiver answered, redelivers byte for byte, and stops delivering to a deleted webhook', async () => {
    const {data: down} = await api.createWebhook({url: `${url}/down`, events: ['sync_end'], secret: 'down-secret'});
    await sim.webhooks.settled();
    const delivery = sim.webhooks.deliveries.at(-1)!;
    expect(delivery).toMatchObject({webhookId: down.id, event: 'test_event', status: 503});
    got.length = 0;
    expect(await sim.webhooks.redeliver(delivery)).toBe(503);
    expect(got).toEqual([{path: '/down', body: delivery.body, signature: delivery.signature}]);
    for (const webhook of await api.listWebhooks()) await api.request('DELETE', `webhooks/${webhook.id}`);
    expect(await api.listWebhooks()).toEqual([]);
    got.length = 0;
    await api.triggerSync(sim.fleet.connections[0]!.id);
    sim.advance(500);
    await sim.webhooks.settled();
    expect(got).toEqual([]);
  });
});
