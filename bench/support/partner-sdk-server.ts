// A child process for bench/partner-sdk.bench.ts: serves connectors/<CONNECTOR> (replication by default) as
// a Partner SDK source connector on 127.0.0.1:PORT, as `./fivetran serve <connector> --grpc` does, and prints
// `listening <port>` once bound. Partner SDK log lines are dropped below WARNING (LOG_LEVEL).
import {loadConnector} from '../../project/root.js';
import {startPartnerSdkServer} from '../../sdk/partner-sdk/server.js';

const connector = await loadConnector(process.cwd(), process.env.CONNECTOR ?? 'replication');
const running = await startPartnerSdkServer(connector, {port: Number(process.env.PORT ?? 0), host: '127.0.0.1', sink: () => undefined});
console.log(`listening ${running.port}`);
process.on('SIGTERM', () => void running.close().then(() => process.exit(0)));
