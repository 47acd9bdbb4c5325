// The runtime every connector uses: the connector model, the Function adapter, budgets, logs, errors,
// secrets fields, an HTTP client for source APIs, PostgreSQL / Fivetran REST helpers, and the types of a
// connector's demo script (demo.ts).
export * from './types.js';
export * from './errors.js';
export * from './log.js';
export * from './secrets.js';
export * from './budget.js';
export * from './connector.js';
// types only: a connector writes Partner SDK Records through ctx.records, which the Function path never loads
export type {RecordRows, RecordsChunk, RecordsOutput} from './partner-sdk/record-rows.js';
export {RESET_STATE} from './state.js';
export * from './function-adapter.js';
export * from './retry.js';
export {createHttpClient, HttpFailure, toConnectorError} from './http.js';
export type {ConnectorErrorOptions, HttpClient, HttpClientOptions, HttpFailureKind, HttpRequestOptions, HttpResponse, HttpRetryOptions} from './http.js';
export type * from './demo.js';
export {z} from 'zod';
