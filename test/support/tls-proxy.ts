// PostgreSQL over TLS for tests, without configuring the test server: a proxy that answers the client's
// SSLRequest with 'S', completes the TLS handshake with the fixture certificate (test/fixtures/tls), and
// relays the decrypted protocol to the real server over plain TCP. A client that does not ask for TLS is
// relayed as it is, or, with `requireTls`, refused as a server whose pg_hba.conf has only hostssl lines
// refuses it. What it proves is the client side: pg, and whatever reads pg's socket, over TLS.
import {readFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import {fileURLToPath} from 'node:url';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls');
/** The PEM certificate the proxy presents: the CA to trust for sslmode verify-ca / verify-full. */
export const TEST_CA = readFileSync(path.join(fixtures, 'server.crt'), 'utf8');
const KEY = readFileSync(path.join(fixtures, 'server.key'), 'utf8');
const SSL_REQUEST_CODE = 80877103;

export interface TlsProxy {
  port: number;
  /** connections that negotiated TLS */
  readonly tlsConnections: number;
  close(): Promise<void>;
}

/** The ErrorResponse PostgreSQL sends a client that connects without TLS where only TLS is allowed. */
function noEncryptionError(): Buffer {
  const fields = Buffer.from('SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host "127.0.0.1", user "test", database "test", no encryption\0\0', 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0, 'latin1');
  header.writeUInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

export async function startTlsProxy(upstream: {host: string; port: number}, options: {requireTls?: boolean} = {}): Promise<TlsProxy> {
  let tlsConnections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    client.once('readable', () => {
      const first = client.read(8) as Buffer | null;
      if (!first) return client.destroy();
      const relay = (from: net.Socket | tls.TLSSocket, initial: Buffer | null) => {
        const to = net.connect(upstream.port, upstream.host);
        sockets.add(to);
        to.on('error', () => from.destroy());
        from.on('error', () => to.destroy());
        to.on('close', () => from.destroy());
        from.on('close', () => to.destroy());
        if (initial) to.write(initial);
        from.pipe(to);
        to.pipe(from);
      };
      if (first.length === 8 && first.readInt32BE(0) === 8 && first.readInt32BE(4) === SSL_REQUEST_CODE) {
        client.write('S');
        const secure = new tls.TLSSocket(client, {isServer: true, cert: TEST_CA, key: KEY});
        secure.once('secure', () => tlsConnections++);
        relay(secure, null);
      } else if (options.requireTls) {
        client.end(noEncryptionError());
      } else {
        relay(client, first);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get tlsConnections() {
      return tlsConnections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
