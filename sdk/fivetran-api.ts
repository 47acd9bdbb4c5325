// A client for Fivetran's REST API v1 (FIVETRAN.md §2): Basic auth, the versioned Accept header, the
// {code, message, data} envelope, cursor pagination, and retries on 429 (honouring Retry-After), 5xx and
// connection errors with backoff and jitter. 401/403/404 fail at once with a message naming what is wrong.
// got (with its HTTP/2 and cache dependencies) is loaded by the first request, not at import: a function
// answers calls that never reach the API (invalid secrets) without paying for it at cold start.
import type {ExtendOptions, Got, Method} from 'got';
import {AuthError, ConfigError, SourceError} from './errors.js';
import {backoffDelay} from './retry.js';

export const DEFAULT_FIVETRAN_API_URL = 'https://api.fivetran.com';

type GotModule = typeof import('got');
let gotLoading: Promise<GotModule> | undefined;

/** The got module, imported once on first use (in a bundle: evaluated then, not when the function loads). */
function loadGot(): Promise<GotModule> {
  gotLoading ??= import('got');
  return gotLoading;
}

export interface FivetranApiOptions {
  apiKey: string;
  apiSecret: string;
  /** https://api.fivetran.com by default; a simulator's URL in tests and the demo */
  baseUrl?: string;
  /** retries after the first attempt on 429, 5xx and connection errors (default 4) */
  retries?: number;
  /** first backoff delay in ms (default 1000); Retry-After wins when present */
  baseDelayMs?: number;
  /** longest Retry-After honoured, in ms (default 5 minutes) */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
  /** the API's max page size is 1000 */
  pageSize?: number;
}

export interface ApiResult<T> {
  data: T;
  status: number;
  /** attempts made, retries included */
  attempts: number;
}

export interface ConnectionStatus {
  setup_state?: 'incomplete' | 'connected' | 'broken' | string;
  sync_state?: 'scheduled' | 'syncing' | 'paused' | 'rescheduled' | string;
  update_state?: 'on_schedule' | 'delayed' | string;
  is_historical_sync?: boolean;
  rescheduled_for?: string | null;
  tasks?: {code: string; message: string}[];
  warnings?: {code: string; message: string}[];
}

export interface Connection {
  id: string;
  group_id: string;
  service: string;
  schema: string;
  paused: boolean;
  schedule_type?: 'auto' | 'manual' | string;
  sync_frequency?: number;
  succeeded_at?: string | null;
  failed_at?: string | null;
  created_at?: string;
  status: ConnectionStatus;
  [key: string]: unknown;
}

export interface Group {
  id: string;
  name: string;
  created_at?: string;
}

/** A non-2xx answer from the API after retries. */
export class FivetranApiError extends SourceError {
  override readonly errorType = 'FivetranApiError';
  /** the API's HTTP status (0 when it could not be reached) */
  readonly httpStatus: number;
  readonly code: string;
  readonly attempts: number;
  constructor(message: string, details: {status: number; code: string; attempts: number; retriable: boolean; cause?: unknown}) {
    super(message, {cause: details.cause, retriable: details.retriable});
    this.httpStatus = details.status;
    this.code = details.code;
    this.attempts = details.attempts;
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function normalizeBaseUrl(url: string): string {
  let base = url.trim().replace(/\/+$/, '');
  if (!/^https?:\/\//.test(base)) throw new ConfigError(`fivetran_api_url "${url}" must start with http:// or https://`);
  if (!base.endsWith('/v1')) base += '/v1';
  return base + '/';
}

export class FivetranApi {
  private readonly options: ExtendOptions;
  private client: Got | undefined;
  private readonly pageSize: number;
  readonly baseUrl: string;

  constructor(options: FivetranApiOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl ?? DEFAULT_FIVETRAN_API_URL);
    this.pageSize = Math.min(1000, Math.max(1, options.pageSize ?? 1000));
    const baseDelayMs = options.baseDelayMs ?? 1000;
    const maxRetryAfterMs = options.maxRetryAfterMs ?? 5 * 60_000;
    // got's options for this client; the client itself is made by the first request (see loadGot)
    this.options = {
      prefixUrl: this.baseUrl,
      // The Authorization header is set directly: got's username/password would put the credentials in the
      // URL, which then shows up in error messages.
      headers: {
        accept: 'application/json;version=2',
        'user-agent': 'fivetran-functions-fleet',
        authorization: `Basic ${Buffer.from(`${options.apiKey}:${options.apiSecret}`).toString('base64')}`,
      },
      responseType: 'json',
      timeout: {request: options.timeoutMs ?? 30_000},
      retry: {
        limit: options.retries ?? 4,
        methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'],
        statusCodes: [429, 500, 502, 503, 504],
        errorCodes: ['ETIMEDOUT', 'ECONNRESET', 'EADDRINUSE', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'ENETUNREACH', 'EAI_AGAIN'],
        maxRetryAfter: maxRetryAfterMs,
        calculateDelay: ({attemptCount, retryOptions, error, retryAfter}) => {
          if (attemptCount > retryOptions.limit) return 0;
          const status = error.response?.statusCode;
          const retriable = status === undefined ? retryOptions.errorCodes.includes(error.code) : retryOptions.statusCodes.includes(status);
          if (!retriable) return 0;
          // 0 would mean "do not retry" to got, so Retry-After: 0 waits 1 ms
          if (retryAfter !== undefined) return retryAfter > maxRetryAfterMs ? 0 : Math.max(1, retryAfter);
          return backoffDelay(attemptCount, baseDelayMs);
        },
      },
    };
  }

  /** One request; unwraps the envelope's `data`. */
  async request<T>(method: Method, path: string, options: {json?: unknown; searchParams?: Record<string, string | number | undefined>; what?: string} = {}): Promise<ApiResult<T>> {
    const searchParams = Object.fromEntries(Object.entries(options.searchParams ?? {}).filter(([, v]) => v !== undefined)) as Record<string, string | number>;
    const got = await loadGot();
    this.client ??= got.default.extend(this.options);
    try {
      const response = await this.client<{code?: string; message?: string; data?: T}>(path.replace(/^\//, ''), {
        method,
        json: options.json,
        searchParams: Object.keys(searchParams).length ? searchParams : undefined,
      });
      return {data: (response.body?.data ?? ({} as T)) as T, status: response.statusCode, attempts: response.retryCount + 1};
    } catch (error) {
      throw this.describe(got, error, method, path, options.what);
    }
  }

  private describe({HTTPError, RequestError: GotRequestError}: GotModule, error: unknown, method: string, path: string, what?: string): Error {
    const subject = what ?? `${method} /v1/${path.replace(/^\//, '')}`;
    if (error instanceof HTTPError) {
      const status = error.response.statusCode;
      const body = (error.response.body ?? {}) as {code?: string; message?: string};
      const code = typeof body.code === 'string' ? body.code : String(status);
      const apiMessage = typeof body.message === 'string' ? body.message : error.response.statusMessage ?? '';
      const attempts = error.request?.retryCount !== undefined ? error.request.retryCount + 1 : 1;
      if (status === 401) {
        return new AuthError(`Fivetran API rejected the credentials (401) for ${subject}; check fivetran_api_key and fivetran_api_secret`, {cause: error});
      }
      if (status === 403) {
        return new AuthError(`Fivetran API denied ${subject} (403: ${apiMessage}); give the API key's user permission for it`, {cause: error});
      }
      const message =
        status === 404 ? `Fivetran API found no ${subject} (404: ${apiMessage}); check the id`
        : status === 429 ? `Fivetran API rate limit hit on ${subject} after ${plural(attempts, 'attempt')} (429); try again later or lower the request rate`
        : status === 409 ? `Fivetran API reported a conflict for ${subject} (409: ${apiMessage})`
        : `Fivetran API answered ${status} for ${subject} after ${plural(attempts, 'attempt')} (${code}: ${apiMessage})`;
      return new FivetranApiError(message, {status, code, attempts, retriable: status === 429 || status >= 500, cause: error});
    }
    if (error instanceof GotRequestError) {
      const attempts = error.request?.retryCount !== undefined ? error.request.retryCount + 1 : 1;
      return new FivetranApiError(`cannot reach the Fivetran API at ${this.baseUrl} for ${subject} (${error.code ?? error.message}); check fivetran_api_url and the network`, {
        status: 0, code: error.code ?? 'NETWORK', attempts, retriable: true, cause: error,
      });
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  /** Pages of a list endpoint, following `next_cursor`; `limit` up to 1000 per page. */
  async *pages<T>(path: string, searchParams: Record<string, string | number | undefined> = {}): AsyncGenerator<T[]> {
    let cursor: string | undefined;
    do {
      const {data} = await this.request<{items?: T[]; next_cursor?: string | null}>('GET', path, {searchParams: {...searchParams, limit: this.pageSize, cursor}});
      yield data.items ?? [];
      cursor = data.next_cursor ?? undefined;
    } while (cursor);
  }

  async listAll<T>(path: string, searchParams: Record<string, string | number | undefined> = {}): Promise<T[]> {
    const all: T[] = [];
    for await (const page of this.pages<T>(path, searchParams)) all.push(...page);
    return all;
  }

  listGroups(): Promise<Group[]> {
    return this.listAll<Group>('groups');
  }

  listConnections(groupId?: string): Promise<Connection[]> {
    return groupId ? this.listAll<Connection>(`groups/${encodeURIComponent(groupId)}/connections`) : this.listAll<Connection>('connections');
  }

  getConnection(id: string): Promise<ApiResult<Connection>> {
    return this.request<Connection>('GET', `connections/${encodeURIComponent(id)}`, {what: `connection "${id}"`});
  }

  updateConnection(id: string, patch: Record<string, unknown>): Promise<ApiResult<Connection>> {
    return this.request<Connection>('PATCH', `connections/${encodeURIComponent(id)}`, {json: patch, what: `update of connection "${id}"`});
  }

  triggerSync(id: string, force = false): Promise<ApiResult<unknown>> {
    return this.request('POST', `connections/${encodeURIComponent(id)}/sync`, {json: {force}, what: `sync of connection "${id}"`});
  }

  runSetupTests(id: string): Promise<ApiResult<Connection>> {
    return this.request<Connection>('POST', `connections/${encodeURIComponent(id)}/test`, {json: {}, what: `setup tests of connection "${id}"`});
  }
}
