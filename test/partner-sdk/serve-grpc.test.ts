// `./fivetran serve <connector> --grpc`: the CLI function starts the Partner SDK server for a project's
// connector (or a deploy.yaml function): on 127.0.0.1 by default (it is plaintext), on every IPv4 and IPv6
// address with --host ::.
import net from 'node:net';
import {networkInterfaces} from 'node:os';
import * as grpc from '@grpc/grpc-js';
import {describe, expect, it} from 'vitest';
import {serveFunction} from '../../cli/serve.js';
import {loadPartnerSdk} from '../../sdk/partner-sdk/protocol.js';
import type {ConfigurationFormResponse__Output} from '../../sdk/partner-sdk/generated/fivetran_sdk/v2/ConfigurationFormResponse.js';

const hasIpv6Loopback = () => Object.values(networkInterfaces()).flat().some((i) => i?.internal && i.family === 'IPv6');

describe('serve --grpc', () => {
  // Hosts without IPv6 (some CI containers) cannot show the IPv6 half; there the server falls back to IPv4.
  it('listens on 127.0.0.1 only unless --host says otherwise', async () => {
    const served = await serveFunction({target: 'monitoring', port: 0, grpc: true});
    try {
      expect(served.url).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
      const port = served.url.split(':').at(-1)!;
      const {proto} = loadPartnerSdk();
      const client = new proto.fivetran_sdk.v2.SourceConnector(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      try {
        const form = await new Promise<ConfigurationFormResponse__Output>((resolve, reject) =>
          client.ConfigurationForm({}, (error, response) => (error ? reject(error) : resolve(response!))),
        );
        expect(form.tests).toHaveLength(1);
      } finally {
        client.close();
      }
      // another address of this machine is refused: the server is not bound there
      const external = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
      if (external) {
        const refused = await new Promise<boolean>((resolve) => {
          const socket = net.connect(Number(port), external.address);
          socket.once('connect', () => (socket.destroy(), resolve(false)));
          socket.once('error', () => resolve(true));
        });
        expect(refused, external.address).toBe(true);
      }
    } finally {
      await served.close();
    }
  });

  it.skipIf(!hasIpv6Loopback())('serves the connector\'s SourceConnector on every IPv4 and IPv6 address with --host ::', async () => {
    const served = await serveFunction({target: 'monitoring', port: 0, grpc: true, host: '::'});
    try {
      const match = /^grpc:\/\/\[::\]:(\d+)$/.exec(served.url);
      expect(match, served.url).not.toBeNull();
      const {proto} = loadPartnerSdk();
      for (const host of ['127.0.0.1', '[::1]']) {
        const client = new proto.fivetran_sdk.v2.SourceConnector(`${host}:${match![1]}`, grpc.credentials.createInsecure());
        try {
          const form = await new Promise<ConfigurationFormResponse__Output>((resolve, reject) =>
            client.ConfigurationForm({}, (error, response) => (error ? reject(error) : resolve(response!))),
          );
          expect(form.tests).toEqual([{name: 'connection', label: 'Check the Fivetran API credentials'}]);
        } finally {
          client.close();
        }
      }
    } finally {
      await served.close();
    }
  });

  it('rejects a port out of range and an unknown connector with one line', async () => {
    await expect(serveFunction({target: 'monitoring', port: 70000, grpc: true})).rejects.toThrow('--port 70000 must be a port number from 0 to 65535');
    await expect(serveFunction({target: 'no_such_connector', port: 0, grpc: true})).rejects.toThrow(/"no_such_connector" is neither a func/);
  });
});
