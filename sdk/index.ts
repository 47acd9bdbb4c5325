// The runtime every connector uses: the connector model, the Function adapter, budgets, logs, errors,
// secrets fields, and PostgreSQL / Fivetran REST helpers; the types of a connector's demo script (demo.ts).
export * from './types.js';
export * from './errors.js';
export * from './log.js';
export * from './secrets.js';
export * from './budget.js';
export * from './connector.js';
export * from './function-adapter.js';
export * from './retry.js';
export type * from './demo.js';
export {z} from 'zod';
