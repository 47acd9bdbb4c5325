// A client for Fivetran's REST API v1 (docs/fivetran.md §2): Basic auth, the versioned Accept header, the
// {code, message, data} envelope and cursor pagination, over sdk/http.ts (retries on 429, 5xx and connection
// errors honouring Retry-After; a request that changes something, POST, PATCH or DELETE, sent once unless the
// API certainly did not act on it; each request within the time its caller has left). 401/403/404 fail at
// once with a message naming what is wrong, and the secret keys to check are the caller's names for them
// (`credentialKeys`: the connectors' secrets, the CLI's environment variables). Every answer is checked
// against the shape the endpoint documents (zod) before anyone trusts it.
import type {Method} from 'got';
import * as z from 'zod';
import {AuthError, ConfigError, SourceError} from './errors.js';
import {createHttpClient, HttpFailure, IDEMPOTENT_METHODS, redactUrl, type HttpClient} from './http.js';


export const DEFAULT_FIVETRAN_API_URL = 'https://api.fivetran.com';

/** What the caller calls the API key, the secret and the URL, for messages (never their values). */
export interface FivetranCredentialKeys {
  apiKey: string;
  apiSecret: string;
  url: string;
}

/** The connectors' secret keys (connectors/freshness, connectors/monitoring). */
export const FIVETRAN_SECRET_KEYS: FivetranCredentialKeys = {apiKey: 'fivetran_api_key', apiSecret: 'fivetran_api_secret', url: 'fivetran_api_url'};

export interface FivetranApiOptions {
  apiKey: string;
  apiSecret: string;
  /** https://api.fivetran.com by default; a simulator's URL in tests and the demo */
  baseUrl?: string;
  /** the names messages give the key, the secret and the URL (default FIVETRAN_SECRET_KEYS) */
  credentialKeys?: FivetranCredentialKeys;
  /** retries after the first attempt on 429, 5xx and connection errors (default 4) */
  retries?: number;
  /** first backoff delay in ms (default 1000); Retry-After wins when present */
  baseDelayMs?: number;
  /** longest Retry-After honoured, in ms (default 5 minutes) */
  maxRetryAfterMs?: number;
  /** longest wait for one attempt's answer, in ms (default 30 s) */
  timeoutMs?: number;
  /** the API's max page size is 1000 */
  pageSize?: number;
  /** aborts every request in flight (a Function call's ctx.signal: its deadline) */
  signal?: AbortSignal;
  /** the time the caller has left, in ms: each request, its retries included, ends within it */
  timeLeftMs?: () => number;
}

export interface ApiResult<T> {
  data: T;
  status: number;
  /** attempts made, retries included */
  attempts: number;
}

// The shapes this client relies on. Loose objects: the API adds fields over time, and callers may read them.
const Task = z.looseObject({code: z.string(), message: z.string()});
const ConnectionStatusSchema = z.looseObject({
  setup_state: z.string().optional(),
  sync_state: z.string().optional(),
  update_state: z.string().optional(),
  is_historical_sync: z.boolean().optional(),
  rescheduled_for: z.string().nullish(),
  tasks: z.array(Task).optional(),
  warnings: z.array(Task).optional(),
});
export const ConnectionSchema = z.looseObject({
  id: z.string(),
  group_id: z.string(),
  service: z.string(),
  schema: z.string(),
  paused: z.boolean(),
  schedule_type: z.string().optional(),
  sync_frequency: z.number().optional(),
  succeeded_at: z.string().nullish(),
  failed_at: z.string().nullish(),
  created_at: z.string().optional(),
  status: ConnectionStatusSchema,
});
export const GroupSchema = z.looseObject({id: z.string(), name: z.string(), created_at: z.string().optional()});

// Transformations (docs/fivetran.md §2, "Transformations"): dbt Core projects and Quickstart data models run
// after syncs. `status` and the run timestamps are documented; `errors` is not (see the notes): read when given.
export const TRANSFORMATION_RUNNING_STATUSES = ['NEW', 'SCHEDULING', 'RUNNING', 'TERMINATING'] as const;
export const TransformationSchema = z.looseObject({
  id: z.string(),
  type: z.string(),
  status: z.string(),
  paused: z.boolean(),
  created_at: z.string().nullish(),
  last_started_at: z.string().nullish(),
  last_ended_at: z.string().nullish(),
  output_model_names: z.array(z.string()).nullish(),
  transformation_config: z
    .looseObject({
      package_name: z.string().nullish(),
      connection_ids: z.array(z.string()).nullish(),
      excluded_models: z.array(z.string()).nullish(),
      project_id: z.string().nullish(),
      name: z.string().nullish(),
      steps: z.array(z.looseObject({name: z.string(), command: z.string()})).nullish(),
    })
    .nullish(),
  errors: z.array(z.string()).nullish(),
});
/** A webhook as the API shows it (its secret masked). */
const WebhookSchema = z.looseObject({
  id: z.string(),
  type: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  active: z.boolean(),
  group_id: z.string().nullish(),
  created_at: z.string().optional(),
});
const WebhookTestSchema = z.looseObject({succeed: z.boolean(), status: z.number().optional(), message: z.string().optional()});

export type ConnectionStatus = z.infer<typeof ConnectionStatusSchema>;
export type Webhook = z.infer<typeof WebhookSchema>;
export type Connection = z.infer<typeof ConnectionSchema>;
export type Group = z.infer<typeof GroupSchema>;
export type Transformation = z.infer<typeof TransformationSchema>;

/** The data of a list endpoint's page. */
const pageOf = <T extends z.ZodType>(item: T) => z.object({items: z.array(item), next_cursor: z.string().nullish()});

export interface Page<T> {
  items: T[];
  /** the cursor this page was asked for (undefined: the first page) */
  cursor: string | undefined;
  /** the cursor of the next page; null on the last page */
  next: string | null;
}

/** A non-2xx answer, an answer of the wrong shape, or no answer, from the API after retries. */
export class FivetranApiError extends SourceError {
  override readonly errorType = 'FivetranApiError';
  /** the API's HTTP status (0 when it gave none: unreachable, or no answer in time) */
  readonly httpStatus: number;
  readonly code: string;
  readonly attempts: number;
  /**
   * True when the request changes something and the API may have carried it out although it did not say so
   * (no answer in time, a 5xx, an answer of the wrong shape): a sync may have started.
   */
  readonly outcomeUnknown: boolean;
  constructor(message: string, details: {status: number; code: string; attempts: number; retriable: boolean; outcomeUnknown?: boolean; cause?: unknown}) {
    super(message, {cause: details.cause, retriable: details.retriable});
    this.httpStatus = details.status;
    this.code = details.code;
    this.attempts = details.attempts;
    this.outcomeUnknown = details.outcomeUnknown ?? false;
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

function normalizeBaseUrl(url: string, keys: FivetranCredentialKeys): string {
  let base = url.trim().replace(/\/+$/, '');
  if (!/^https?:\/\//.test(base)) throw new ConfigError(`${keys.url} "${redactUrl(url)}" must start with http:// or https://`);
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new ConfigError(`${keys.url} "${redactUrl(url)}" is not a URL`);
  }
  if (parsed.username || parsed.password) {
    // got would send them instead of the API key, and they would show wherever the URL is printed
    throw new ConfigError(`${keys.url} "${redactUrl(url)}" holds credentials (user:password@); remove them: the API key and secret go in ${keys.apiKey} and ${keys.apiSecret}`);
  }
  if (!base.endsWith('/v1')) base += '/v1';
  return base + '/';
}

/** `path: what is wrong` of the first zod issue, for a one-line message. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'unexpected body';
  return `${issue.path.length ? issue.path.join('.') : 'body'}: ${issue.message}`;
}

const Envelope = z.object({code: z.string(), message: z.string().optional(), data: z.unknown().optional()});

export interface RequestOptions<T> {
  json?: unknown;
  searchParams?: Record<string, string | number | undefined>;
  /** what the request is about, for messages (`connection "abc"`); the method and path by default */
  what?: string;
  /** the shape of the answer's `data`; without it only the envelope is checked and `data` is undefined */
  data?: z.ZodType<T>;
  /** what may have happened when a request that changes something got no answer (`the sync may have started`) */
  unanswered?: string;
}

export class FivetranApi {
  private readonly http: HttpClient;
  private readonly pageSize: number;
  private readonly keys: FivetranCredentialKeys;
  readonly baseUrl: string;
  /** the API's host (and port), for messages */
  readonly host: string;

  constructor(options: FivetranApiOptions) {
    this.keys = options.credentialKeys ?? FIVETRAN_SECRET_KEYS;
    this.baseUrl = normalizeBaseUrl(options.baseUrl ?? DEFAULT_FIVETRAN_API_URL, this.keys);
    this.pageSize = Math.min(1000, Math.max(1, options.pageSize ?? 1000));
    this.http = createHttpClient({
      prefixUrl: this.baseUrl,
      // The Authorization header is set directly: got's username/password would put the credentials in the
      // URL, which then shows up in error messages.
      headers: {
        accept: 'application/json;version=2',
        'user-agent': 'fivetran-functions-fleet',
        authorization: `Basic ${Buffer.from(`${options.apiKey}:${options.apiSecret}`).toString('base64')}`,
      },
      retry: {limit: options.retries ?? 4, baseDelayMs: options.baseDelayMs, maxRetryAfterMs: options.maxRetryAfterMs},
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      timeLeftMs: options.timeLeftMs,
    });
    this.host = this.http.host;
  }

  /** One request; checks the envelope and the shape of its `data`, and unwraps `data`. */
  async request<T = undefined>(method: Method, path: string, options: RequestOptions<T> = {}): Promise<ApiResult<T>> {
    const endpoint = `${method} /v1/${path.replace(/^\//, '')}`;
    let response;
    try {
      response = await this.http.json(method, path, {json: options.json, searchParams: options.searchParams});
    } catch (error) {
      throw error instanceof HttpFailure ? this.describe(error, {...options, endpoint}) : error;
    }
    const {status, attempts} = response;
    const invalid = (what: string) =>
      new FivetranApiError(`the Fivetran API answered ${endpoint} with ${status} and ${what}`, {status, code: 'InvalidAnswer', attempts, retriable: false, outcomeUnknown: !IDEMPOTENT_METHODS.has(method)});
    const envelope = Envelope.safeParse(response.body);
    if (!envelope.success) throw invalid(`not the API's envelope {code, message, data} (${firstIssue(envelope.error)})`);
    if (!options.data) return {data: undefined as T, status, attempts};
    const data = options.data.safeParse(envelope.data.data);
    if (!data.success) throw invalid(`an unexpected answer (data.${firstIssue(data.error)})`.replace('data.body:', 'data:'));
    return {data: data.data, status, attempts};
  }

  /** The FivetranApiError (or AuthError) for a failed request, in the words this client has always used. */
  private describe(failure: HttpFailure, request: {endpoint: string; what?: string; unanswered?: string}): Error {
    const {status, attempts, outcomeUnknown} = failure;
    const {endpoint} = request;
    const subject = request.what ?? endpoint;
    const mayHave = failure.idempotent ? '' : `; ${request.unanswered ?? 'it may have been carried out'}`;
    const cause = failure.cause;
    switch (failure.kind) {
      case 'no-time':
        return new FivetranApiError(`no time was left before the call's deadline to send ${endpoint} to the Fivetran API at ${this.host}`, {status: 0, code: 'DEADLINE', attempts: 0, retriable: true});
      case 'invalid-json':
        return new FivetranApiError(`the Fivetran API answered ${endpoint} with ${status} and a body that is not JSON (${JSON.stringify(failure.body.slice(0, 80))})`, {
          status, code: 'InvalidJson', attempts, retriable: false, outcomeUnknown,
        });
      case 'timeout': {
        const atDeadline = failure.atDeadline ? " (the call's deadline)" : '';
        return new FivetranApiError(
          `the Fivetran API at ${this.host} did not answer ${endpoint} within ${seconds(failure.elapsedMs)}${atDeadline}${attempts > 1 ? ` after ${plural(attempts, 'attempt')}` : ''}${mayHave}`,
          {status: 0, code: 'ETIMEDOUT', attempts, retriable: true, outcomeUnknown, cause},
        );
      }
      case 'unreachable':
        return new FivetranApiError(
          `cannot reach the Fivetran API at ${redactUrl(this.baseUrl)} for ${subject} (${failure.code}); check ${this.keys.url} and the network${failure.notSent ? '' : mayHave}`,
          {status: 0, code: failure.code ?? 'NETWORK', attempts, retriable: true, outcomeUnknown, cause},
        );
      case 'status': {
        let body: {code?: unknown; message?: unknown} = {};
        try {
          body = (JSON.parse(failure.body) ?? {}) as typeof body;
        } catch {
          // an error page that is not JSON: the status says enough
        }
        const code = typeof body.code === 'string' ? body.code : String(status);
        const apiMessage = typeof body.message === 'string' ? body.message : failure.statusMessage;
        if (status === 401) {
          return new AuthError(`Fivetran API rejected the credentials (401) for ${subject}; check ${this.keys.apiKey} and ${this.keys.apiSecret}`, {cause});
        }
        if (status === 403) {
          return new AuthError(`Fivetran API denied ${subject} (403: ${apiMessage}); give the API key's user permission for it`, {cause});
        }
        const message =
          status === 404 ? `Fivetran API found no ${subject} (404: ${apiMessage}); check the id`
          : status === 429 ? `Fivetran API rate limit hit on ${subject} after ${plural(attempts, 'attempt')} (429); try again later or lower the request rate`
          : status === 409 ? `Fivetran API reported a conflict for ${subject} (409: ${apiMessage})`
          : outcomeUnknown ? `Fivetran API answered ${status} for ${subject} (${code}: ${apiMessage}); not retried${mayHave}`
          : `Fivetran API answered ${status} for ${subject} after ${plural(attempts, 'attempt')} (${code}: ${apiMessage})`;
        return new FivetranApiError(message, {status, code, attempts, retriable: status === 429 || status >= 500, outcomeUnknown, cause});
      }
    }
  }

  /**
   * Pages of a list endpoint from `cursor` on (the first page without it), following `next_cursor`; `limit`
   * up to 1000 per page. A cursor the API already gave in this listing ends it with an error: following it
   * would read the same pages until the account's rate limit is spent.
   */
  async *pages<T>(path: string, item: z.ZodType<T>, options: {searchParams?: Record<string, string | number | undefined>; what?: string; cursor?: string} = {}): AsyncGenerator<Page<T>> {
    const schema = pageOf(item) as unknown as z.ZodType<{items: T[]; next_cursor?: string | null}>;
    const seen = new Set<string>();
    let cursor = options.cursor;
    if (cursor !== undefined) seen.add(cursor);
    for (let page = 1; ; page++) {
      const {data} = await this.request('GET', path, {searchParams: {limit: this.pageSize, ...options.searchParams, cursor}, what: options.what, data: schema});
      const next = data.next_cursor || null;
      if (next !== null && seen.has(next)) {
        throw new FivetranApiError(
          `the Fivetran API answered GET /v1/${path} with a next_cursor it had already given (${JSON.stringify(next.slice(0, 40))}) after ${plural(page, 'page')}; stopped rather than read the same pages again`,
          {status: 200, code: 'RepeatedCursor', attempts: 1, retriable: false},
        );
      }
      if (next !== null) seen.add(next);
      yield {items: data.items, cursor, next};
      if (next === null) return;
      cursor = next;
    }
  }

  async listAll<T>(path: string, item: z.ZodType<T>, what?: string): Promise<T[]> {
    const all: T[] = [];
    for await (const page of this.pages(path, item, {what})) all.push(...page.items);
    return all;
  }

  listGroups(): Promise<Group[]> {
    return this.listAll('groups', GroupSchema, 'the list of groups');
  }

  listConnections(groupId?: string): Promise<Connection[]> {
    return groupId
      ? this.listAll(`groups/${encodeURIComponent(groupId)}/connections`, ConnectionSchema, `the connections of group "${groupId}"`)
      : this.listAll('connections', ConnectionSchema, 'the list of connections');
  }

  getConnection(id: string): Promise<ApiResult<Connection>> {
    return this.request('GET', `connections/${encodeURIComponent(id)}`, {what: `connection "${id}"`, data: ConnectionSchema});
  }

  updateConnection(id: string, patch: Record<string, unknown>): Promise<ApiResult<Connection>> {
    return this.request('PATCH', `connections/${encodeURIComponent(id)}`, {json: patch, what: `update of connection "${id}"`, data: ConnectionSchema, unanswered: 'the update may have been applied'});
  }

  /** Sent once (see the module comment): a retry after a lost answer could start, or with force restart, a second sync. */
  triggerSync(id: string, force = false): Promise<ApiResult<undefined>> {
    return this.request('POST', `connections/${encodeURIComponent(id)}/sync`, {json: {force}, what: `sync of connection "${id}"`, unanswered: 'the sync may have started'});
  }

  /** `type`: QUICKSTART or DBT_CORE; all of the account's transformations without it. */
  async listTransformations(type?: string): Promise<Transformation[]> {
    const all: Transformation[] = [];
    for await (const page of this.pages('transformations', TransformationSchema, {searchParams: {type}, what: 'the list of transformations'})) all.push(...page.items);
    return all;
  }

  getTransformation(id: string): Promise<ApiResult<Transformation>> {
    return this.request('GET', `transformations/${encodeURIComponent(id)}`, {what: `transformation "${id}"`, data: TransformationSchema});
  }

  /** Sent once, as a sync trigger: a retry after a lost answer could start a second run. */
  runTransformation(id: string): Promise<ApiResult<undefined>> {
    return this.request('POST', `transformations/${encodeURIComponent(id)}/run`, {json: {}, what: `run of transformation "${id}"`, unanswered: 'the run may have started'});
  }

  /** POST /v1/webhooks/account, or /v1/webhooks/group/{id} with `groupId`; sent once (a retry would create a second). */
  createWebhook(webhook: {url: string; events: readonly string[]; secret: string; groupId?: string}): Promise<ApiResult<Webhook>> {
    const path = webhook.groupId ? `webhooks/group/${encodeURIComponent(webhook.groupId)}` : 'webhooks/account';
    return this.request('POST', path, {
      json: {url: webhook.url, events: webhook.events, active: true, secret: webhook.secret},
      what: webhook.groupId ? `webhook of group "${webhook.groupId}"` : 'account webhook',
      data: WebhookSchema,
      unanswered: 'the webhook may have been created (./fivetran monitor webhook list shows it)',
    });
  }

  listWebhooks(): Promise<Webhook[]> {
    return this.listAll('webhooks', WebhookSchema, 'the list of webhooks');
  }

  /** POST /v1/webhooks/{id}/test: Fivetran delivers one `event` to the webhook's URL now. */
  testWebhook(id: string, event = 'sync_end'): Promise<ApiResult<z.infer<typeof WebhookTestSchema>>> {
    return this.request('POST', `webhooks/${encodeURIComponent(id)}/test`, {json: {event}, what: `test of webhook "${id}"`, data: WebhookTestSchema, unanswered: 'the test event may have been sent'});
  }

  runSetupTests(id: string): Promise<ApiResult<Connection>> {
    return this.request('POST', `connections/${encodeURIComponent(id)}/test`, {json: {}, what: `setup tests of connection "${id}"`, data: ConnectionSchema, unanswered: 'the setup tests may have run'});
  }
}
