// A child process for bench/serve.bench.ts: serveFunction({dev: true}) for connectors/replication on PORT, the
// TypeScript sources through tsx (what `./fivetran serve replication --dev` serves once cli/index.ts declares --dev).
import {serveFunction} from '../../cli/serve.js';

const served = await serveFunction({target: 'replication', port: Number(process.env.PORT), dev: true});
process.on('SIGTERM', () => void served.close().then(() => process.exit(0)));
