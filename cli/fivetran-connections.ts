// The Fivetran REST API calls that wire a Function connection (docs/fivetran.md §2, "Creating and wiring a
// Function connection"), over the shared client in sdk/fivetran-api.ts: service accounts, create, resync,
// state. Each names what it asked for, so an API error reads as one line a person can act on.
import {z} from 'zod';
import {ConnectionSchema, type ApiResult, type Connection, type FivetranApi} from '../sdk/fivetran-api.js';

export interface KeyValue {
  key: string;
  value: string;
}

export interface SetupTest {
  title: string;
  status: string;
  message?: string;
}

export interface FunctionConnection extends Connection {
  config?: {schema?: string; function_trigger?: string; secrets_list?: KeyValue[]; custom_payloads?: KeyValue[]; [key: string]: unknown};
  setup_tests?: SetupTest[];
}

export interface NewFunctionConnection {
  group_id: string;
  paused: boolean;
  schedule_type: 'auto' | 'manual';
  sync_frequency?: number;
  run_setup_tests: boolean;
  config: {schema: string; function_trigger: string; secrets_list: KeyValue[]; custom_payloads: KeyValue[]};
}

const id = (value: string) => encodeURIComponent(value);

// The answers this module reads, checked like every answer of the API client (loose: the API adds fields).
const KeyValueSchema = z.looseObject({key: z.string(), value: z.string()});
const FunctionConnectionSchema = ConnectionSchema.extend({
  config: z
    .looseObject({schema: z.string().optional(), function_trigger: z.string().optional(), secrets_list: z.array(KeyValueSchema).optional(), custom_payloads: z.array(KeyValueSchema).optional()})
    .optional(),
  setup_tests: z.array(z.looseObject({title: z.string(), status: z.string(), message: z.string().optional()})).optional(),
}) as unknown as z.ZodType<FunctionConnection>;
const ServiceAccountSchema = z.looseObject({service_account: z.string().min(1)});
const StateSchema = z.looseObject({state: z.record(z.string(), z.unknown()).nullish()});

export async function groupServiceAccount(api: FivetranApi, groupId: string): Promise<string> {
  const {data} = await api.request('GET', `groups/${id(groupId)}/service-account`, {what: `group "${groupId}"`, data: ServiceAccountSchema});
  return data.service_account;
}

export async function createFunctionConnection(api: FivetranApi, body: NewFunctionConnection): Promise<FunctionConnection> {
  const what = `creation of connection "${body.config.schema}" in group "${body.group_id}"`;
  const {data} = await api.request('POST', 'connections', {json: {service: 'google_cloud_function', ...body}, what, data: FunctionConnectionSchema});
  return data;
}

export async function updateFunctionConnection(api: FivetranApi, connectionId: string, patch: Record<string, unknown>): Promise<FunctionConnection> {
  return (await api.updateConnection(connectionId, patch)).data as FunctionConnection;
}

export async function getFunctionConnection(api: FivetranApi, connectionId: string): Promise<FunctionConnection> {
  return (await api.getConnection(connectionId)).data as FunctionConnection;
}

export async function runSetupTests(api: FivetranApi, connectionId: string): Promise<FunctionConnection> {
  return (await api.runSetupTests(connectionId)).data as FunctionConnection;
}

/** A historical resync of the whole connection, or of some tables of its schema. */
export async function resyncConnection(api: FivetranApi, connectionId: string, scope?: Record<string, string[]>): Promise<ApiResult<unknown>> {
  return api.request('POST', `connections/${id(connectionId)}/resync`, {json: scope ? {scope} : {}, what: `resync of connection "${connectionId}"`});
}

export async function resyncTable(api: FivetranApi, connectionId: string, schema: string, table: string): Promise<ApiResult<unknown>> {
  return api.request('POST', `connections/${id(connectionId)}/schemas/${id(schema)}/tables/${id(table)}/resync`, {json: {}, what: `resync of table ${schema}.${table} of connection "${connectionId}"`});
}

export async function getConnectionState(api: FivetranApi, connectionId: string): Promise<Record<string, unknown>> {
  const {data} = await api.request('GET', `connections/${id(connectionId)}/state`, {what: `state of connection "${connectionId}"`, data: StateSchema});
  return data.state ?? {};
}

export async function setConnectionState(api: FivetranApi, connectionId: string, state: Record<string, unknown>): Promise<void> {
  await api.request('PATCH', `connections/${id(connectionId)}/state`, {json: {state}, what: `state update of connection "${connectionId}"`});
}
