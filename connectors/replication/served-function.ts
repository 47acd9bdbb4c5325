// The replication function served on functions-framework in a process of its own (PORT from the
// environment), for tests that measure the function's own memory, as a deployed instance's.
import {createMain} from '../../sdk/index.js';
import {createFunctionServer, listen} from '../../sdk/server.js';
import {connector} from './index.js';

const server = createFunctionServer('replication', createMain(connector));
await listen(server, Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
